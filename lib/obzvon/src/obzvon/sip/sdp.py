"""The one SDP shape a G.711 trunk call needs: PCMU, PCMA and telephone-event."""

from __future__ import annotations

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


def parse_media(text: str) -> MediaOffer | None:
    try:
        sdp = parse_sdp(text)
    except Exception:
        return None
    audio = sdp.audio
    addr = sdp.rtp_address
    if audio is None or addr is None or audio.port == 0:
        return None
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
    return MediaOffer(rtp=(addr[0], int(addr[1])), payload_types=tuple(pts), dtmf_pt=dtmf)
