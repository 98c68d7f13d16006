"""The one SDP shape a G.711 trunk call needs: PCMU, PCMA and telephone-event."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from aiosipua import parse_sdp

SUPPORTED = {0: "PCMU", 8: "PCMA"}


def offer(host: str, rtp_port: int, payload_types: tuple[int, ...] = (0, 8), dtmf_pt: int | None = 101) -> str:
    sid = random.randint(1, 2**31)
    fmts = [str(p) for p in payload_types] + ([str(dtmf_pt)] if dtmf_pt is not None else [])
    lines = [
        "v=0",
        f"o=obzvon {sid} {sid} IN IP4 {host}",
        "s=obzvon",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {' '.join(fmts)}",
    ]
    lines += [f"a=rtpmap:{p} {SUPPORTED[p]}/8000" for p in payload_types]
    if dtmf_pt is not None:
        lines += [f"a=rtpmap:{dtmf_pt} telephone-event/8000", f"a=fmtp:{dtmf_pt} 0-16"]
    lines += ["a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


@dataclass(frozen=True)
class MediaOffer:
    """What the other side's SDP says about its audio stream."""

    rtp: tuple[str, int]
    payload_types: tuple[int, ...]  # G.711 types, in the sender's preference order
    dtmf_pt: int | None


class SdpError(ValueError):
    """An SDP answer the dialer cannot send audio to; the message says why (no personal data)."""


def parse_media(text: str) -> MediaOffer:
    """The audio stream an SDP offers; SdpError when there is none we could send RTP to.

    The address must be an IP literal: a name (or `999.999.1.1`) would make every 20 ms RTP send
    fail for the whole call, and a carrier's media gateway always gives one.
    """
    try:
        sdp = parse_sdp(text)
    except Exception:
        raise SdpError("SDP does not parse") from None
    audio = sdp.audio
    if audio is None:
        raise SdpError("no audio stream in SDP")
    addr = sdp.rtp_address
    if addr is None:
        raise SdpError("no connection address in SDP")
    host, port = str(addr[0]), int(addr[1])
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise SdpError(f"SDP connection address {host[:64]!r} is not an IP address") from None
    if port == 0:
        raise SdpError("audio stream refused (port 0)")
    if not 1 <= port <= 65535:
        raise SdpError(f"SDP audio port {port} out of range")
    names: dict[int, str] = {}
    for line in audio.attributes.get("rtpmap", []):
        pt_s, _, enc = line.partition(" ")
        if pt_s.strip().isdigit():
            names[int(pt_s)] = enc.split("/")[0].strip().lower()
    pts: list[int] = []
    dtmf: int | None = None
    for f in audio.formats:
        if not f.isdigit():
            continue
        pt = int(f)
        name = names.get(pt, SUPPORTED.get(pt, "").lower())  # static types may omit rtpmap
        if name in ("pcmu", "pcma"):
            pts.append(0 if name == "pcmu" else 8)
        elif name == "telephone-event" and dtmf is None:
            dtmf = pt
    return MediaOffer(rtp=(host, port), payload_types=tuple(pts), dtmf_pt=dtmf)
