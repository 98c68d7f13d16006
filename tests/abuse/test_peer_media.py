"""A peer cannot inject (issue #10 item 13): RTP from a source never negotiated in SDP neither presses keys nor
speaks for the callee.

Seen before: RTP sent from another port of the callee's host during the question opted the callee out with an
RFC 4733 '9', and its «да» was recorded as yes. Here a real call goes through the dialer's `place` to a
loopback phone that answers and sends its own (silent) media, while a hostile socket on the same host, on a
port the SDP never named, sends a '9' during the disclosure and «да» and a '9' during the question.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiortc.rtp import RtpPacket
from obzvon.media import MediaClock
from obzvon.media.g711 import encode
from obzvon.media.rtp import build_telephone_event
from obzvon.script import load_script_yaml

# The call harness lives with the media tests (tests/ is not a package): load it by path.
_spec = importlib.util.spec_from_file_location("dialer_call", Path(__file__).parents[1] / "media" / "dialer_call.py")
assert _spec is not None and _spec.loader is not None
harness = sys.modules.setdefault("dialer_call", importlib.util.module_from_spec(_spec))
if not hasattr(harness, "place"):
    _spec.loader.exec_module(harness)

pytestmark = pytest.mark.stack

SCRIPT = load_script_yaml("""
start: greet
nodes:
  greet: {say: "Здравствуйте!", next: confirm}
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: thanks, no: bye, no_input: bye}}
  thanks: {say: "Ждём вас!", tag: confirmed, next: bye}
  bye: {hangup: "До свидания"}
""")


class Injector:
    """A socket on the callee's host, on a port of its own, that sends RTP to the robot's media port."""

    def __init__(self, transport: asyncio.DatagramTransport, robot: tuple[str, int]) -> None:
        self.transport = transport
        self.robot = robot
        self.seq = 0
        self.ts = 0

    def _send(self, payload_type: int, payload: bytes, timestamp: int) -> None:
        pkt = RtpPacket(
            payload_type=payload_type, sequence_number=self.seq, timestamp=timestamp, ssrc=4242, payload=payload
        )
        self.seq = (self.seq + 1) & 0xFFFF
        self.transport.sendto(pkt.serialize(), self.robot)

    def press(self, digit: str) -> None:
        self.ts += 8000
        for duration in (160, 320, 480):
            self._send(101, build_telephone_event(digit, end=False, duration=duration), self.ts)
        for _ in range(3):
            self._send(101, build_telephone_event(digit, end=True, duration=640), self.ts)

    async def speak(self, seconds: float) -> None:
        pcm = harness.tone(seconds, 300)
        for i in range(0, len(pcm), 320):
            self.ts += 160
            self._send(0, encode(pcm[i : i + 320], 0), self.ts)
            await asyncio.sleep(0.02)


@pytest.fixture
async def clock() -> AsyncIterator[MediaClock]:
    c = MediaClock()
    yield c
    await c.close()


async def test_a_stream_from_another_port_cannot_opt_out_or_answer(test_redis: str, clock: MediaClock) -> None:
    asr = harness.AsrStandIn(intent="yes")  # anything that reached asr would be taken as «да»
    async with harness.phone(clock) as p, harness.dialer(test_redis, clock, asr, no_input_timeout_s=1.0) as d:
        request = await harness.attempt(
            d, p.port, SCRIPT, {"автоматический": 0.8, "Здравствуйте": 0.4, "Вы придёте": 1.0}, default_s=0.4
        )
        events, placing = await harness.call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        assert callee.call.offer is not None
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(harness.LOOPBACK, 0))
        injector = Injector(transport, callee.call.offer.rtp)
        try:
            await asyncio.sleep(0.3)
            injector.press("9")  # during the disclosure
            await asyncio.sleep(1.3)  # into the question
            await injector.speak(0.8)
            injector.press("9")
            await asyncio.wait_for(placing, 8)
        finally:
            transport.close()
    assert events.outcome == "completed" and not events.opted_out
    assert await d.dnc.check(request.phone_number, request.tenant_id) is None
    assert [r.intent for r in events.replies] == ["no_input"]  # the callee itself said nothing
    assert events.nodes == ["greet", "confirm", "bye"]
    assert asr.heard == []
