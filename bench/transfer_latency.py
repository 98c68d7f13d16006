"""Transfer to an operator, timed: the callee's yes -> the operator's phone ringing, and the operator's
answer -> their audio reaching each other through the dialer's bridge (p50 / p95).

Real SIP and RTP on loopback through the dialer's `place`, Redis for the prompts' audio (`make stack`);
no tts or asr runs: prompts are stored tones and the callee answers the question with key 1. One SIP
peer plays the callee (its number) and the operator (the phone simulator's operator module, by
extension). The operator speaks a 1500 Hz tone from the moment it answers and the callee a 700 Hz tone
throughout, so each side's first frame of the other's tone marks the bridge.

- yes_to_operator_ringing_ms: from the key press to the operator's INVITE arriving, which includes the
  transfer node's text («Соединяю с оператором», BENCH_PROMPT_S long); `..._after_prompt_ms` without it.
- answer_to_callee_hears_operator_ms / answer_to_operator_hears_callee_ms: from the operator's 200 OK
  to the first frame of the other side's tone (no whisper here: a whisper delays the callee's side by
  its own length, by design).

BENCH_CALLS (20), BENCH_CONCURRENCY (4), BENCH_PROMPT_S (1.0), BENCH_OPERATOR_ANSWER_S (1.0),
BENCH_REDIS_URL (redis://127.0.0.1:6379/2). Prints one JSON line and appends it to
bench/results/transfer_latency.jsonl.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import struct
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from obzvon import keys
from obzvon.audio import audio_key
from obzvon.compliance import MemoryAuditLog, MemoryCounterStore, MemoryDncRegistry
from obzvon.media import MediaClock, RtpSession
from obzvon.script import OPT_OUT_CONFIRMATION, disclosure_text, load_script_yaml, node_text, spoken
from obzvon.sip import IncomingCall, SipTrunk, SipUas
from obzvon.v1 import campaigns_pb2, events_pb2
from obzvon.voices import LANGUAGES, default_voice
from obzvon_devstack.devstack import numbers_awake_now
from obzvon_dialer.call import DialerContext, place
from obzvon_dialer.prompts import PlatformSentence, Prompts
from obzvon_dialer.settings import DialerSettings
from obzvon_phonesim.operator import OperatorPersona, act_operator
from redis.asyncio import Redis

VOICE, LANGUAGE = "espeak-ng:ru", "ru"
OPERATOR_HZ, CALLEE_HZ = 1500.0, 700.0
SCRIPT = load_script_yaml("""
start: ask
nodes:
  ask: {ask: "Соединить вас с оператором?", expect: yes_no, on: {yes: connect, no: bye}}
  connect: {transfer: "reception", say: "Соединяю с оператором", no_answer: bye}
  bye: {hangup: "До свидания"}
""")


def tone(seconds: float, hz: float, amp: int = 6000) -> bytes:
    n = int(8000 * seconds)
    return b"".join(struct.pack("<h", int(amp * math.sin(2 * math.pi * hz * i / 8000))) for i in range(n))


def carries(frame: bytes, hz: float) -> bool:
    """Whether `hz` is loud in a 20 ms frame (Goertzel), well above ringback and silence."""
    samples = struct.unpack(f"<{len(frame) // 2}h", frame)
    coeff = 2 * math.cos(2 * math.pi * hz / 8000)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2 > 1e11


class _NoTts:
    async def send(self, topic: object, key: str, value: object) -> None:
        pass


class _Events:
    async def emit(self, type_: int, **fields: object) -> None:
        pass

    async def node_entered(self, node_id: str, tag: str) -> None:
        pass

    async def reply(self, node_id: str, reply: object) -> None:
        pass


@dataclass
class Timing:
    yes_at: float = 0.0
    callee_heard_operator_at: float = 0.0
    operator_heard_callee_at: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Peer:
    """The trunk's far end: callees by number, one operator persona per call by a per-call extension."""

    def __init__(self, clock: MediaClock, answer_s: float, question_s: float) -> None:
        self.clock = clock
        self.answer_s = answer_s
        self.question_s = question_s
        self.timings: dict[str, Timing] = {}  # by callee number
        self.operators: dict[str, OperatorPersona] = {}
        self.uas: SipUas | None = None

    async def handle(self, call: IncomingCall) -> None:
        if call.to_user == "reception":
            persona = OperatorPersona(answer_after_s=self.answer_s, line=tone(3.0, OPERATOR_HZ), speak_after_s=0.0)
            contact = call.request.headers.get_first("x-obzvon-contact") or ""
            self.operators[contact] = persona
            timing = self.timings[contact]

            def heard(frame: bytes) -> None:
                if not timing.operator_heard_callee_at and carries(frame, CALLEE_HZ):
                    timing.operator_heard_callee_at = time.monotonic()

            persona.on_frame = heard
            persona.hang_up_after_s = 2.0
            await act_operator(call, persona, self.clock)
            return
        await self._callee(call)

    async def _callee(self, call: IncomingCall) -> None:
        timing = self.timings[call.to_user]
        rtp = await RtpSession.open(self.clock)

        def heard(frame: bytes) -> None:
            if timing.yes_at and not timing.callee_heard_operator_at and carries(frame, OPERATOR_HZ):
                timing.callee_heard_operator_at = time.monotonic()

        rtp.on_frame = heard
        try:
            if not await call.answer(rtp.local_port):
                return
            assert call.remote_rtp is not None and call.payload_type is not None
            rtp.connect(call.remote_rtp, call.payload_type, call.dtmf_payload_type)
            await asyncio.sleep(0.5 + self.question_s / 2)  # the disclosure, then half the question
            timing.yes_at = time.monotonic()
            rtp.send_dtmf("1")
            speaking = asyncio.ensure_future(rtp.play(tone(30.0, CALLEE_HZ)))
            await call.remote_hangup.wait()
            speaking.cancel()
        finally:
            await rtp.close()
            timing.done.set()


async def main() -> None:
    calls = int(os.environ.get("BENCH_CALLS", "20"))
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "4"))
    prompt_s = float(os.environ.get("BENCH_PROMPT_S", "1.0"))
    answer_s = float(os.environ.get("BENCH_OPERATOR_ANSWER_S", "1.0"))
    redis = Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"))
    clock = MediaClock()
    peer = Peer(clock, answer_s, question_s=1.0)
    uas = await SipUas.start(peer.handle)
    trunk = await SipTrunk.start()
    prompts = Prompts(redis, cast(Any, _NoTts()), 2.0)
    for sentence in PlatformSentence:
        for language in LANGUAGES:
            key = audio_key(spoken(sentence.texts, language), default_voice(language), language)
            await redis.set(keys.tts_audio(key), tone(0.5, 1000.0), ex=600)
    await prompts.load_platform(2.0)
    ctx = DialerContext(
        settings=DialerSettings(ring_timeout_s=3, prompt_ready_before_dial_s=1.0, allowed_trunk_hosts="127.0.0.1"),
        trunk=trunk,
        clock=clock,
        prompts=prompts,
        asr=cast(Any, None),
        dnc=MemoryDncRegistry(),
        counters=MemoryCounterStore(),
        audit=MemoryAuditLog(),
    )
    numbers = numbers_awake_now(calls)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        number = numbers[i % len(numbers)]
        tenant = f"Bench {uuid.uuid4().hex[:6]}"
        contact = f"k{i}"
        request = events_pb2.DialRequest(
            attempt_id=f"att-transfer-{uuid.uuid4().hex[:8]}",
            tenant_id="bench",
            campaign_id="transfer",
            contact_id=contact,
            phone_number=number,
            caller_id="+74950000000",
            script=SCRIPT,
            language=LANGUAGE,
            voice=VOICE,
            trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=uas.local_port),
            tenant_display_name=tenant,
            attempt_number=1,
            compliance_profile="default",
            purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
            registered_caller_ids=["+74950000000"],
            expected_duration_seconds=60,
        )
        request.not_after.FromNanoseconds(time.time_ns() + 300 * 10**9)
        texts = [disclosure_text(LANGUAGE, tenant, callback_number=""), spoken(OPT_OUT_CONFIRMATION, LANGUAGE)]
        texts += [node_text(node) for node in SCRIPT.nodes.values()]
        for text in texts:
            seconds = prompt_s if "Соединяю" in text else 0.5 if tenant in text else 1.0
            await redis.set(keys.tts_audio(audio_key(text, VOICE, LANGUAGE)), tone(seconds, 2000.0), ex=600)
        # The peer tells calls apart by the callee's number; the operator's INVITE by its contact id.
        peer.timings[number.lstrip("+")] = peer.timings[contact] = Timing()  # the Request-URI has no '+'
        async with gate:
            await place(ctx, request, cast(Any, _Events()))

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(min(calls, len(numbers)))))
    elapsed = time.monotonic() - started
    ringing, bridged_to_callee, bridged_to_operator = [], [], []
    for contact, persona in peer.operators.items():
        timing = peer.timings[contact]
        if persona.invited_at and timing.yes_at:
            ringing.append((persona.invited_at - timing.yes_at) * 1000)
        if persona.answered_at and timing.callee_heard_operator_at:
            bridged_to_callee.append((timing.callee_heard_operator_at - persona.answered_at) * 1000)
        if persona.answered_at and timing.operator_heard_callee_at:
            bridged_to_operator.append((timing.operator_heard_callee_at - persona.answered_at) * 1000)
    await trunk.close()
    await uas.close()
    await clock.close()
    await redis.aclose()

    def pct(values: list[float], q: float) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    result = {
        "bench": "transfer_latency",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "calls": len(peer.operators),
        "seconds": round(elapsed, 1),
        "prompt_s": prompt_s,
        "yes_to_operator_ringing_ms_p50": pct(ringing, 0.5),
        "yes_to_operator_ringing_ms_p95": pct(ringing, 0.95),
        "yes_to_operator_ringing_after_prompt_ms_p50": pct([r - prompt_s * 1000 for r in ringing], 0.5),
        "yes_to_operator_ringing_after_prompt_ms_p95": pct([r - prompt_s * 1000 for r in ringing], 0.95),
        "answer_to_callee_hears_operator_ms_p50": pct(bridged_to_callee, 0.5),
        "answer_to_callee_hears_operator_ms_p95": pct(bridged_to_callee, 0.95),
        "answer_to_operator_hears_callee_ms_p50": pct(bridged_to_operator, 0.5),
        "answer_to_operator_hears_callee_ms_p95": pct(bridged_to_operator, 0.95),
    }
    line = json.dumps(result, ensure_ascii=False)
    print(line)
    out = Path(__file__).parent / "results" / "transfer_latency.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


if __name__ == "__main__":
    asyncio.run(main())
