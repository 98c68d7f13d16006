from __future__ import annotations

import asyncio

from aiortc.rtp import RtpPacket
from media_helpers import LOOPBACK
from obzvon.media import MediaClock, RtpSession
from obzvon.media.rtp import build_telephone_event, parse_telephone_event


def test_rfc4733_payload_parse_and_build() -> None:
    # event 5, E bit, volume 10, duration 800 (RFC 4733 §2.3)
    assert parse_telephone_event(bytes([5, 0x8A, 0x03, 0x20])) == ("5", True, 800)
    assert parse_telephone_event(bytes([11, 0x0A, 0x00, 0xA0])) == ("#", False, 160)
    assert parse_telephone_event(bytes([10, 0, 0, 0])) == ("*", False, 0)
    assert parse_telephone_event(bytes([16, 0, 0, 0])) is None  # flash hook is no digit
    assert parse_telephone_event(b"\x01") is None
    assert build_telephone_event("9", end=True, duration=400) == bytes([9, 0x8A, 0x01, 0x90])


async def test_received_events_are_deduplicated(clock: MediaClock) -> None:
    rx = await RtpSession.open(clock)
    loop = asyncio.get_running_loop()
    tx, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(LOOPBACK, 0))
    rx.connect(tx.get_extra_info("sockname")[:2], 0, 101)  # RTP is taken from the negotiated source only
    seq = 0

    def send(digit: str, ts: int, end: bool, duration: int) -> None:
        nonlocal seq
        payload = build_telephone_event(digit, end=end, duration=duration)
        pkt = RtpPacket(
            payload_type=101, marker=int(seq == 0), sequence_number=seq, timestamp=ts, ssrc=7, payload=payload
        )
        seq += 1
        tx.sendto(pkt.serialize(), (LOOPBACK, rx.local_port))

    # "1": start, two updates, end x3; "1" again as a new event (new timestamp); "#": end packets only
    for d in (160, 320, 480):
        send("1", 1000, False, d)
    for _ in range(3):
        send("1", 1000, True, 640)
    for d in (160, 320):
        send("1", 3000, False, d)
    for _ in range(3):
        send("1", 3000, True, 480)
    for _ in range(3):
        send("#", 5000, True, 480)
    await asyncio.sleep(0.15)
    tx.close()
    await rx.close()
    got = []
    while not rx.dtmf.empty():
        got.append(rx.dtmf.get_nowait())
    assert got == ["1", "1", "#"]


async def test_send_dtmf_between_sessions(clock: MediaClock) -> None:
    a = await RtpSession.open(clock)
    b = await RtpSession.open(clock)
    a.connect((LOOPBACK, b.local_port), 0, 101)
    b.connect((LOOPBACK, a.local_port), 0, 101)
    a.send_dtmf("42*")
    got = [await asyncio.wait_for(b.dtmf.get(), 2.0) for _ in range(3)]
    await a.close()
    await b.close()
    assert got == ["4", "2", "*"]
