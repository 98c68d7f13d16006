"""Transfer to an operator (issue #12): a second leg on the campaign's trunk, ringback, a whisper, audio both ways.

Real SIP and RTP on loopback through `place`: one SIP peer plays both the callee (its number) and the
operator (the phone simulator's operator module, by extension). Every sound is a tone of its own
frequency, so each side can tell what it heard: prompts 2000 Hz, the whisper 1800 Hz, ringback 425 Hz,
the operator's line 1500 Hz, the callee's speech 700 Hz.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from dialer_call import AsrStandIn, Dialer, attempt, dialer, tone
from obzvon import keys
from obzvon.audio import audio_key
from obzvon.media import MediaClock, RtpSession
from obzvon.script import disclosure_text, load_script_yaml, node_text
from obzvon.sip import IncomingCall, SipTrunk, SipUas
from obzvon.sip.uac import CallFailed
from obzvon.v1 import events_pb2
from obzvon_dialer.call import place
from obzvon_dialer.dialog import Reply
from obzvon_phonesim import PhoneSimulator
from obzvon_phonesim.operator import OperatorAction, OperatorPersona, act_operator, parse_operators

pytestmark = pytest.mark.stack
T = events_pb2.CallEventType
VOICE, LANGUAGE = "espeak-ng:ru", "ru"

SCRIPT = load_script_yaml("""
start: connect
nodes:
  connect: {transfer: "reception", say: "Соединяю с оператором", whisper: "Клиент {name}", ring_timeout: 4,
            no_answer: sorry}
  sorry: {hangup: "Все операторы заняты, мы перезвоним"}
""")
PROMPT_HZ, WHISPER_HZ, RINGBACK_HZ, OPERATOR_HZ, CALLEE_HZ = 2000.0, 1800.0, 425.0, 1500.0, 700.0
CANDIDATES = (PROMPT_HZ, WHISPER_HZ, RINGBACK_HZ, OPERATOR_HZ, CALLEE_HZ)


def _power(frame: bytes, hz: float) -> float:
    """Goertzel power of one frequency in a 20 ms PCM16 frame."""
    samples = struct.unpack(f"<{len(frame) // 2}h", frame)
    coeff = 2 * math.cos(2 * math.pi * hz / 8000)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def seconds_of(frames: list[bytes], hz: float) -> float:
    """How long `hz` was the loudest of the test's tones in what was heard (silent frames count for none)."""
    n = 0
    for frame in frames:
        powers = {f: _power(frame, f) for f in CANDIDATES}
        loudest = max(powers, key=lambda f: powers[f])
        if loudest == hz and powers[hz] > 1e9:
            n += 1
    return n * 0.02


@dataclass
class Recorded:
    """Call events with their fields, as AttemptEvents would emit them."""

    emitted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)

    async def emit(self, type_: int, **fields: Any) -> None:
        self.emitted.append((type_, fields))

    async def node_entered(self, node_id: str, tag: str) -> None:
        self.nodes.append(node_id)

    async def reply(self, node_id: str, reply: Reply) -> None:
        pass

    def of(self, type_: int) -> list[dict[str, Any]]:
        return [f for t, f in self.emitted if t == type_]

    @property
    def outcome(self) -> int:
        return int(self.of(T.CALL_EVENT_TYPE_COMPLETED)[-1]["outcome"].outcome)


@dataclass
class Callee:
    heard: list[tuple[float, bytes]] = field(default_factory=list)  # (loop time, frame)
    rtp: RtpSession | None = None
    call: IncomingCall | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    def frames(self, start: float = 0.0, end: float = math.inf) -> list[bytes]:
        return [f for t, f in self.heard if start <= t < end]


@contextlib.asynccontextmanager
async def trunk_peer(clock: MediaClock, operator: OperatorPersona) -> AsyncIterator[tuple[int, Callee]]:
    """A SIP peer on loopback: the operator's extension reaches `operator`, any other user is the callee."""
    callee = Callee()

    async def handle(call: IncomingCall) -> None:
        if call.to_user == "reception":
            await act_operator(call, operator, clock)
            return
        rtp = await RtpSession.open(clock)
        loop = asyncio.get_running_loop()
        rtp.on_frame = lambda frame: callee.heard.append((loop.time(), frame))
        try:
            if not await call.answer(rtp.local_port):
                return
            assert call.remote_rtp is not None and call.payload_type is not None
            rtp.connect(call.remote_rtp, call.payload_type, call.dtmf_payload_type)
            callee.rtp, callee.call = rtp, call
            callee.answered.set()
            await call.remote_hangup.wait()
        finally:
            await rtp.close()

    uas = await SipUas.start(handle)
    try:
        yield uas.local_port, callee
    finally:
        await uas.close()


async def _request(d: Dialer, port: int) -> events_pb2.DialRequest:
    request = await attempt(d, port, SCRIPT, {}, default_s=0.4)
    request.variables["name"] = "Анна"
    # Prompts and the whisper as tones of their own (attempt() stored 440 Hz ones).
    texts = [disclosure_text(LANGUAGE, request.tenant_display_name, callback_number="")]
    texts += [node_text(node) for node in SCRIPT.nodes.values()]
    for text in texts:
        await d.redis.set(keys.tts_audio(audio_key(text, VOICE, LANGUAGE)), tone(0.4, PROMPT_HZ), ex=120)
    whisper = audio_key("Клиент Анна", VOICE, LANGUAGE)
    await d.redis.set(keys.tts_audio(whisper), tone(0.4, WHISPER_HZ), ex=120)
    return request


async def test_operator_answers_and_audio_passes_both_ways(test_redis: str, clock: MediaClock) -> None:
    operator = OperatorPersona(answer_after_s=1.5, line=tone(1.0, OPERATOR_HZ), speak_after_s=1.0, hang_up_after_s=3.5)
    async with trunk_peer(clock, operator) as (port, callee), dialer(test_redis, clock, AsrStandIn()) as d:
        request = await _request(d, port)
        events = Recorded()
        placing = asyncio.create_task(place(d.ctx, request, cast(Any, events)))
        await asyncio.wait_for(callee.answered.wait(), 5)
        await asyncio.wait_for(operator.answered.wait(), 6)
        loop = asyncio.get_running_loop()
        operator_answered = loop.time()
        await asyncio.sleep(1.0)
        assert callee.rtp is not None and callee.call is not None
        await callee.rtp.play(tone(1.0, CALLEE_HZ))  # the callee speaks while bridged
        assert await callee.call.wait_bye(4.0)  # the operator hung up: the dialer ended the callee's leg
        await asyncio.wait_for(placing, 5)

    # Ringback while the operator's phone rang, then the operator's voice; the operator heard the
    # whisper first, then the callee.
    assert seconds_of(callee.frames(end=operator_answered), RINGBACK_HZ) >= 0.6
    assert seconds_of(callee.frames(start=operator_answered), OPERATOR_HZ) >= 0.7
    assert seconds_of(operator.heard, WHISPER_HZ) >= 0.3
    assert seconds_of(operator.heard, CALLEE_HZ) >= 0.7
    # Who is calling travels as ids, never the phone number.
    invite = operator.invites[0].request
    assert invite.headers.get_first("x-obzvon-contact") == "k1"
    assert request.phone_number.lstrip("+") not in invite.serialize()
    types = [t for t, _ in events.emitted]
    for t in (T.CALL_EVENT_TYPE_TRANSFER_REQUESTED, T.CALL_EVENT_TYPE_TRANSFERRED, T.CALL_EVENT_TYPE_TRANSFER_ENDED):
        assert t in types
    ring = events.of(T.CALL_EVENT_TYPE_TRANSFERRED)[0]["operator_ring"].ToNanoseconds() / 1e9
    assert 1.3 <= ring <= 3.0
    talk = events.of(T.CALL_EVENT_TYPE_TRANSFER_ENDED)[0]["operator_talk"].ToNanoseconds() / 1e9
    assert 3.0 <= talk <= 5.0
    assert events.outcome == events_pb2.CALL_OUTCOME_TRANSFERRED


async def test_busy_operator_takes_the_no_answer_branch(test_redis: str, clock: MediaClock) -> None:
    operator = OperatorPersona(action=OperatorAction.BUSY)
    async with trunk_peer(clock, operator) as (port, _callee), dialer(test_redis, clock, AsrStandIn()) as d:
        request = await _request(d, port)
        events = Recorded()
        await asyncio.wait_for(place(d.ctx, request, cast(Any, events)), 10)
    assert len(operator.invites) == 1
    unavailable = events.of(T.CALL_EVENT_TYPE_OPERATOR_UNAVAILABLE)
    assert unavailable and unavailable[0]["sip_code"] == 486
    assert events.nodes == ["connect", "sorry"]  # the callback offer was said
    assert events.outcome == events_pb2.CALL_OUTCOME_COMPLETED


async def test_callee_hanging_up_while_the_operator_rings_cancels_the_operator(
    test_redis: str, clock: MediaClock
) -> None:
    operator = OperatorPersona(action=OperatorAction.NO_ANSWER)
    async with trunk_peer(clock, operator) as (port, callee), dialer(test_redis, clock, AsrStandIn()) as d:
        request = await _request(d, port)
        events = Recorded()
        placing = asyncio.create_task(place(d.ctx, request, cast(Any, events)))
        await asyncio.wait_for(callee.answered.wait(), 5)
        await asyncio.wait_for(operator.invited.wait(), 5)
        await asyncio.sleep(0.5)
        assert callee.call is not None
        await callee.call.hangup()
        await asyncio.wait_for(placing, 5)
        await asyncio.wait_for(operator.invites[0].cancelled.wait(), 3)
    assert events.outcome == events_pb2.CALL_OUTCOME_CALLEE_HUNG_UP


async def test_the_phone_simulator_routes_operator_extensions(tmp_path: Path, clock: MediaClock) -> None:
    """`obzvon-phonesim serve --operator sales=busy --operator desk=answer:0.2`: by extension, not number."""
    operators = parse_operators(["sales=busy", "desk=answer:0.2"])
    truth_file = tmp_path / "truth.jsonl"
    async with PhoneSimulator(ground_truth=truth_file, operators=operators, clock=clock) as sim:
        trunk = await SipTrunk.start()
        rtp = await RtpSession.open(clock)
        try:
            with pytest.raises(CallFailed) as busy:
                await trunk.invite(
                    f"sip:sales@127.0.0.1:{sim.port}", from_user="bot", rtp_port=rtp.local_port, ring_timeout_s=2
                )
            answered = await trunk.invite(
                f"sip:desk@127.0.0.1:{sim.port}", from_user="bot", rtp_port=rtp.local_port, ring_timeout_s=2
            )
            await answered.hangup()
        finally:
            await rtp.close()
            await trunk.close()
    assert busy.value.sip_code == 486
    records = [json.loads(line) for line in truth_file.read_text().splitlines()]
    assert [(r["event"], r["operator"], r["sip_code"]) for r in records] == [
        ("operator_call", "sales", 486),
        ("operator_call", "desk", 200),
    ]


async def test_the_longest_call_still_ends_a_bridged_call(test_redis: str, clock: MediaClock) -> None:
    operator = OperatorPersona(answer_after_s=0.5, hang_up_after_s=30.0)
    async with (
        trunk_peer(clock, operator) as (port, callee),
        dialer(test_redis, clock, AsrStandIn(), max_call_s=4.0) as d,
    ):
        request = await _request(d, port)
        events = Recorded()
        placing = asyncio.create_task(place(d.ctx, request, cast(Any, events)))
        await asyncio.wait_for(operator.answered.wait(), 6)
        await asyncio.wait_for(placing, 6)
        # Both legs were sent BYE: the operator's (the dialer ended it) and the callee's.
        assert await operator.invites[0].wait_bye(2.0)
        assert callee.call is not None and await callee.call.wait_bye(2.0)
    assert events.of(T.CALL_EVENT_TYPE_TRANSFER_ENDED)
    assert events.outcome == events_pb2.CALL_OUTCOME_CALL_TOO_LONG
