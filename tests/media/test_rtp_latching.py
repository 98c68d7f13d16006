"""RTP is taken from the source negotiated in SDP only (issue #10 item 13), on real loopback sockets.

A stream from another port of the callee's own host, never in the SDP, must not press keys or speak for
the callee; the session latches once onto the negotiated source and drops and counts the rest.
"""

from __future__ import annotations

import asyncio

from aiortc.rtp import RtpPacket
from media_helpers import LOOPBACK, tone
from obzvon.media import MediaClock, RtpSession
from obzvon.media.g711 import encode
from obzvon.media.rtp import build_telephone_event


class Sender:
    """A bare UDP socket that sends hand-made RTP, as a hostile peer would."""

    def __init__(self, transport: asyncio.DatagramTransport) -> None:
        self.transport = transport
        self.address: tuple[str, int] = transport.get_extra_info("sockname")[:2]
        self.seq = 0

    @classmethod
    async def open(cls) -> Sender:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(LOOPBACK, 0))
        return cls(transport)

    def send(self, to: RtpSession, payload_type: int, payload: bytes, timestamp: int) -> None:
        pkt = RtpPacket(
            payload_type=payload_type, sequence_number=self.seq, timestamp=timestamp, ssrc=99, payload=payload
        )
        self.seq += 1
        self.transport.sendto(pkt.serialize(), (LOOPBACK, to.local_port))

    def press(self, to: RtpSession, digit: str, timestamp: int) -> None:
        for _ in range(3):
            self.send(to, 101, build_telephone_event(digit, end=True, duration=800), timestamp)

    def speak(self, to: RtpSession, seconds: float) -> None:
        pcm = tone(seconds, 300)
        for i in range(0, len(pcm), 320):
            self.send(to, 0, encode(pcm[i : i + 320], 0), i // 2)


async def test_a_stream_from_another_port_of_the_callee_host_is_dropped(clock: MediaClock) -> None:
    robot = await RtpSession.open(clock)
    callee, injector = await Sender.open(), await Sender.open()
    frames: list[bytes] = []
    robot.on_frame = frames.append
    robot.connect(callee.address, 0, 101)
    try:
        injector.press(robot, "9", 1000)
        injector.speak(robot, 0.5)
        await asyncio.sleep(0.2)
        assert robot.dtmf.empty() and frames == []
        assert robot.packets_rejected == 3 + 25 and robot.packets_received == 0
        # The negotiated source is heard, and the injector stays refused after it latched.
        callee.press(robot, "1", 2000)
        injector.press(robot, "9", 3000)
        callee.speak(robot, 0.2)
        await asyncio.sleep(0.2)
        assert [robot.dtmf.get_nowait() for _ in range(robot.dtmf.qsize())] == ["1"]
        assert len(frames) == 10
        assert robot.latched == callee.address and robot.packets_rejected == 3 + 25 + 3
    finally:
        callee.transport.close()
        injector.transport.close()
        await robot.close()


async def test_nothing_is_taken_before_the_call_is_connected(clock: MediaClock) -> None:
    robot = await RtpSession.open(clock)
    peer = await Sender.open()
    try:
        peer.press(robot, "9", 1000)
        await asyncio.sleep(0.1)
        assert robot.dtmf.empty() and robot.packets_rejected == 3
    finally:
        peer.transport.close()
        await robot.close()


async def test_a_callee_behind_nat_is_latched_once(clock: MediaClock) -> None:
    # The SDP names the callee's private address; its packets come from the router's (here: loopback).
    robot = await RtpSession.open(clock)
    public, stray = await Sender.open(), await Sender.open()
    robot.connect(("192.168.1.20", 40000), 0, 101)
    try:
        public.press(robot, "2", 1000)
        await asyncio.sleep(0.1)
        stray.press(robot, "9", 2000)
        await asyncio.sleep(0.1)
        assert [robot.dtmf.get_nowait() for _ in range(robot.dtmf.qsize())] == ["2"]
        assert robot.latched == public.address and robot.remote == public.address  # our audio goes there too
        assert robot.packets_rejected == 3
    finally:
        public.transport.close()
        stray.transport.close()
        await robot.close()


async def test_no_nat_latching_when_switched_off(clock: MediaClock) -> None:
    robot = await RtpSession.open(clock)
    public = await Sender.open()
    robot.connect(("10.1.2.3", 40000), 0, 101, nat_latching=False)
    try:
        public.press(robot, "9", 1000)
        await asyncio.sleep(0.1)
        assert robot.dtmf.empty() and robot.latched is None
    finally:
        public.transport.close()
        await robot.close()


async def test_last_received_at_tracks_the_callee_only(clock: MediaClock) -> None:
    robot = await RtpSession.open(clock)
    callee, injector = await Sender.open(), await Sender.open()
    robot.connect(callee.address, 0, 101)
    connected_at = robot.last_received_at
    try:
        await asyncio.sleep(0.1)
        injector.speak(robot, 0.1)
        await asyncio.sleep(0.1)
        assert robot.last_received_at == connected_at  # a stray stream does not keep the call alive
        callee.speak(robot, 0.1)
        await asyncio.sleep(0.1)
        assert robot.last_received_at > connected_at
    finally:
        callee.transport.close()
        injector.transport.close()
        await robot.close()
