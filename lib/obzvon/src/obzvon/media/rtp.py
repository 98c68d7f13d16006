"""Plain RTP/AVP endpoint (RFC 3550) with G.711 and RFC 4733 telephone-events.

Packets are built and parsed with `aiortc.rtp.RtpPacket`; everything above the packet
(pacing, codecs, DTMF) is ours because aiortc's senders need DTLS-SRTP (sip-notes.md).
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import random
import struct
from collections.abc import Callable
from typing import Any, Protocol

from aiortc.rtp import RtpPacket

from obzvon.media import g711
from obzvon.media.clock import MediaClock

log = logging.getLogger(__name__)

DTMF_EVENTS = "0123456789*#ABCD"
DEFAULT_DTMF_PT = 101


def parse_telephone_event(payload: bytes) -> tuple[str, bool, int] | None:
    """(digit, end, duration) of an RFC 4733 payload, or None when it is not a DTMF digit."""
    if len(payload) < 4:
        return None
    event, flags, duration = struct.unpack("!BBH", payload[:4])
    if event >= len(DTMF_EVENTS):
        return None
    return DTMF_EVENTS[event], bool(flags & 0x80), duration


def build_telephone_event(digit: str, *, end: bool, duration: int, volume: int = 10) -> bytes:
    return struct.pack("!BBH", DTMF_EVENTS.index(digit.upper()), (0x80 if end else 0) | volume, duration)


class MediaTap(Protocol):
    """Sees each call's audio both ways, as G.711 payloads stamped with the media clock's tick (a call
    recorder). Called on the media path: it must only append bytes."""

    def received(self, tick: int, payload: bytes, payload_type: int) -> None: ...

    def sent(self, tick: int, payload: bytes, payload_type: int) -> None: ...


class _Play:
    __slots__ = ("data", "encoded_as", "future", "offset", "step")

    def __init__(self, data: bytes, encoded_as: int | None, future: asyncio.Future[bool]) -> None:
        self.data = data
        self.encoded_as = encoded_as  # G.711 payload type of data; None: PCM16
        self.step = g711.FRAME_BYTES if encoded_as is None else g711.FRAME_SAMPLES  # bytes per 20 ms
        self.offset = 0
        self.future = future


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        # Set once the session exists; the socket has to be bound first to learn its port.
        self.sink: Callable[[bytes, tuple[str, int]], None] | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int] | Any) -> None:
        if self.sink is not None:
            self.sink(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port-unreachable from a peer that has gone away; RTP just carries on.
        log.debug("rtp socket error: %s", exc)


class RtpSession:
    """One call's RTP stream, paced by a shared `MediaClock`.

    Once connected it sends exactly one 20 ms packet per clock tick: queued audio when
    playing, encoded silence otherwise, so the far end's jitter buffer sees a steady stream.
    Audio is queued as PCM16 (encoded one frame per tick) or as G.711 bytes already in the
    call's codec (sent as they are, 160 bytes a packet, with no encoding per packet).
    Received audio is re-chunked into 20 ms PCM16 frames whatever the sender's ptime.

    Packets are accepted from one source only, so a stray stream cannot speak or press keys for the
    callee: the address negotiated in SDP, or, when that is a private address (a callee behind NAT,
    whose packets come from its router's public address), the first other host that sends; either way
    the session latches once onto that source and sends there. Everything else, including another
    port of the callee's own host, is dropped and counted in `packets_rejected`.
    """

    def __init__(self, clock: MediaClock, transport: asyncio.DatagramTransport, local_port: int) -> None:
        self.clock = clock
        self._transport = transport
        self.local_port = local_port
        self.remote: tuple[str, int] | None = None
        self.negotiated: tuple[str, int] | None = None  # as the SDP said; `remote` once latched
        self.latched: tuple[str, int] | None = None
        self._nat_latching = True
        self.payload_type = g711.PT_PCMU
        self.dtmf_payload_type = DEFAULT_DTMF_PT
        self.on_frame: Callable[[bytes], None] | None = None
        self.tap: MediaTap | None = None  # a call recorder, when the campaign records
        self.dtmf: asyncio.Queue[str] = asyncio.Queue()
        self._ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._marker = True
        self._plays: collections.deque[_Play] = collections.deque()
        self._dtmf_out: collections.deque[str] = collections.deque()
        self._dtmf_sending: tuple[str, int, int] | None = None  # digit, start ts, ticks sent
        self._clock_handle: int | None = None
        self._rx_buf = bytearray()
        self._last_dtmf_ts: int | None = None
        self._closed = False
        self.packets_sent = 0
        self.packets_received = 0
        self.packets_rejected = 0
        # loop.time() of the last packet accepted (or of connect): how long the far end has been silent.
        self.last_received_at = 0.0
        self.rx_payload_types: set[int] = set()

    @classmethod
    async def open(cls, clock: MediaClock, host: str = "127.0.0.1", port: int = 0) -> RtpSession:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(_Protocol, local_addr=(host, port))
        sockname = transport.get_extra_info("sockname")
        session = cls(clock, transport, int(sockname[1]))
        protocol.sink = session._on_datagram
        return session

    def connect(
        self,
        remote: tuple[str, int],
        payload_type: int,
        dtmf_payload_type: int | None = DEFAULT_DTMF_PT,
        *,
        nat_latching: bool = True,
    ) -> None:
        if payload_type not in g711.CODEC_NAMES:
            raise ValueError(f"unsupported payload type {payload_type}")
        self.remote = remote
        self.negotiated = remote
        self.latched = None
        self._nat_latching = nat_latching
        self.last_received_at = asyncio.get_running_loop().time()
        self.payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type if dtmf_payload_type is not None else -1
        if self._clock_handle is None and not self._closed:
            self._clock_handle = self.clock.register(self._on_tick)

    @property
    def playing(self) -> bool:
        return bool(self._plays)

    async def play(self, audio: bytes, *, encoded_as: int | None = None) -> bool:
        """Queue audio behind anything already playing; True once all of it was sent.

        `audio` is PCM16, or with `encoded_as` G.711 bytes in that payload type: when it is the
        call's codec they go out untouched, otherwise they are transcoded frame by frame.
        """
        if self._closed:
            return False
        if encoded_as is None and len(audio) % 2:
            audio = audio[:-1]
        if encoded_as is not None and encoded_as not in g711.CODEC_NAMES:
            raise ValueError(f"unsupported payload type {encoded_as}")
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._plays.append(_Play(audio, encoded_as, fut))
        return await fut

    def relay(self, frame: bytes, *, max_queued: int = 8) -> None:
        """Queues a 20 ms PCM16 frame heard on another call leg (a bridge), with nobody awaiting it.

        The two legs' senders run on their own clocks; past `max_queued` frames (160 ms) the oldest
        are dropped, so a faster far end cannot build up delay in the bridge.
        """
        if self._closed:
            return
        while len(self._plays) >= max_queued:
            self._plays.popleft().future.cancel()
        self._plays.append(_Play(frame, None, asyncio.get_running_loop().create_future()))

    def stop_playback(self) -> None:
        """Barge-in: drop everything queued; pending play() calls return False."""
        while self._plays:
            p = self._plays.popleft()
            if not p.future.done():
                p.future.set_result(False)

    def send_dtmf(self, digits: str) -> None:
        """Queue RFC 4733 digits (100 ms each, in place of audio while they are sent)."""
        for d in digits:
            if d.upper() not in DTMF_EVENTS:
                raise ValueError(f"not a DTMF digit: {d!r}")
            self._dtmf_out.append(d.upper())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._clock_handle is not None:
            self.clock.unregister(self._clock_handle)
            self._clock_handle = None
        self.stop_playback()
        self._transport.close()

    # -- sending ---------------------------------------------------------------------------

    def _send(self, payload_type: int, payload: bytes, timestamp: int, marker: bool) -> None:
        assert self.remote is not None
        pkt = RtpPacket(
            payload_type=payload_type,
            marker=int(marker),
            sequence_number=self._seq,
            timestamp=timestamp & 0xFFFFFFFF,
            ssrc=self._ssrc,
            payload=payload,
        )
        self._seq = (self._seq + 1) & 0xFFFF
        self._transport.sendto(pkt.serialize(), self.remote)
        self.packets_sent += 1

    def _on_tick(self, n: int) -> None:
        if self.remote is None or self._closed:
            return
        if self._dtmf_sending is not None or (self._dtmf_out and self.dtmf_payload_type >= 0):
            self._tick_dtmf()
            return
        payload = self._next_payload()
        if self.tap is not None and payload is not g711.SILENCE_ENCODED[self.payload_type]:
            self.tap.sent(n, payload, self.payload_type)  # silence is the recorder's gap filling
        self._send(self.payload_type, payload, self._ts, self._marker)
        self._marker = False
        self._ts += g711.FRAME_SAMPLES

    def _next_payload(self) -> bytes:
        """The next 20 ms of queued audio in the call's codec, or encoded silence."""
        pt = self.payload_type
        while self._plays:
            p = self._plays[0]
            if p.future.done():  # the awaiting task was cancelled
                self._plays.popleft()
                continue
            chunk = p.data[p.offset : p.offset + p.step]
            p.offset += p.step
            if p.offset >= len(p.data):
                self._plays.popleft()
                # Resolved after this frame is handed to the socket: "played" means "sent".
                asyncio.get_running_loop().call_soon(_resolve, p.future, True)
            if p.encoded_as == pt:
                # Already in the call's codec: the stored bytes are the payload.
                return chunk.ljust(g711.FRAME_SAMPLES, g711.SILENCE_ENCODED[pt][:1])
            pcm16 = chunk if p.encoded_as is None else g711.decode(chunk, p.encoded_as)
            return g711.encode(pcm16.ljust(g711.FRAME_BYTES, b"\x00"), pt)
        return g711.SILENCE_ENCODED[pt]

    def _tick_dtmf(self) -> None:
        # 5 frames of tone, then the end packet three times (RFC 4733 §2.5.1.4).
        if self._dtmf_sending is None:
            self._dtmf_sending = (self._dtmf_out.popleft(), self._ts, 0)
        digit, start_ts, n = self._dtmf_sending
        tone_frames = 5
        end = n >= tone_frames - 1
        duration = min(n + 1, tone_frames) * g711.FRAME_SAMPLES
        payload = build_telephone_event(digit, end=end, duration=duration)
        self._send(self.dtmf_payload_type, payload, start_ts, n == 0)
        n += 1
        if n >= tone_frames + 2:
            self._dtmf_sending = None
            self._ts = start_ts + tone_frames * g711.FRAME_SAMPLES
            self._marker = True
        else:
            self._dtmf_sending = (digit, start_ts, n)

    # -- receiving -------------------------------------------------------------------------

    def _accepts(self, addr: tuple[str, int]) -> bool:
        """Whether a packet from addr is the callee's (latching onto its source once, see the class doc)."""
        if self.latched is not None:
            return addr == self.latched
        negotiated = self.negotiated
        if negotiated is None:  # not connected yet: nobody's media has been agreed on
            return False
        behind_nat = self._nat_latching and addr[0] != negotiated[0] and _behind_nat(negotiated[0])
        if addr != negotiated and not behind_nat:
            return False
        self.latched = addr
        self.remote = addr  # symmetric RTP: our media goes back where theirs comes from
        return True

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._closed:
            return
        try:
            pkt = RtpPacket.parse(data)
        except ValueError:
            return  # RTCP or junk on the RTP port
        if not self._accepts(addr):
            if not self.packets_rejected:
                log.warning(
                    "rtp from a source not negotiated for the call dropped", extra={"rtp_port": self.local_port}
                )
            self.packets_rejected += 1
            return
        self.packets_received += 1
        self.last_received_at = asyncio.get_running_loop().time()
        pt = pkt.payload_type
        self.rx_payload_types.add(pt)
        if pt in g711.CODEC_NAMES:
            if self.tap is not None:
                self.tap.received(self.clock.ticks, pkt.payload, pt)
            self._rx_buf += g711.decode(pkt.payload, pt)
            while len(self._rx_buf) >= g711.FRAME_BYTES:
                frame = bytes(self._rx_buf[: g711.FRAME_BYTES])
                del self._rx_buf[: g711.FRAME_BYTES]
                if self.on_frame is not None:
                    self.on_frame(frame)
        elif pt == self.dtmf_payload_type or (self.dtmf_payload_type < 0 and pt >= 96):
            ev = parse_telephone_event(pkt.payload)
            # One event = one RTP timestamp; its start, updates and three end copies share it.
            if ev is not None and pkt.timestamp != self._last_dtmf_ts:
                self._last_dtmf_ts = pkt.timestamp
                self.dtmf.put_nowait(ev[0])


def _behind_nat(host: str) -> bool:
    """A private, CGNAT or link-local SDP address: the callee's packets will come from elsewhere."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: resolved by nobody here, so only the exact address counts
    return (ip.is_private or ip in _CGNAT) and not ip.is_loopback


_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _resolve(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)
