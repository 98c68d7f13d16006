"""One real call through the dialer's `place` to a loopback phone the test drives (SIP, RTP and Redis are real).

The prompts' audio is stored in the tts cache beforehand (tones of chosen lengths), so no tts runs; asr is
`AsrStandIn`, which records every utterance that reached it and answers with a fixed intent (running
Whisper here would cost seconds of CPU per utterance and test nothing of the dialer's).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

from obzvon import keys
from obzvon.audio import audio_key, pcmu_key
from obzvon.compliance import MemoryAuditLog, MemoryCounterStore, MemoryDncRegistry
from obzvon.media import MediaClock, RtpSession
from obzvon.script import OPT_OUT_CONFIRMATION, disclosure_text, node_text, spoken
from obzvon.sip import IncomingCall, SipTrunk, SipUas
from obzvon.v1 import campaigns_pb2, events_pb2, scripts_pb2
from obzvon.voices import LANGUAGES, default_voice
from obzvon_devstack.devstack import numbers_awake_now
from obzvon_dialer.call import DialerContext, place
from obzvon_dialer.dialog import Reply
from obzvon_dialer.prompts import PlatformSentence, Prompts
from obzvon_dialer.settings import DialerSettings
from redis.asyncio import Redis

VOICE, LANGUAGE = "espeak-ng:ru", "ru"
LOOPBACK = "127.0.0.1"
T = events_pb2.CallEventType


def tone(seconds: float, hz: float = 440.0, amp: int = 6000) -> bytes:
    n = int(8000 * seconds)
    return b"".join(struct.pack("<h", int(amp * math.sin(2 * math.pi * hz * i / 8000))) for i in range(n))


class AsrStandIn:
    """Records the utterances sent to asr and what was expected of them; answers `intent` to each."""

    def __init__(self, intent: str = "other") -> None:
        self.intent = intent
        self.heard: list[tuple[int, events_pb2.UtteranceExpect.ValueType]] = []  # (audio bytes, expect)

    async def recognize(
        self,
        *,
        call_id: str,
        request: events_pb2.DialRequest,
        audio: bytes,
        expect: events_pb2.UtteranceExpect.ValueType,
        choices: list[str],
    ) -> events_pb2.AsrResult:
        self.heard.append((len(audio), expect))
        return events_pb2.AsrResult(intent=self.intent, text="(stand-in)", confidence=0.9, decided_by="transcript")


class _NoTts:
    """Every prompt is stored beforehand; a tts request would mean a text the test forgot."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, topic: object, key: str, value: object) -> None:
        self.sent.append(key)


@dataclass
class Events:
    """The attempt's call events as `AttemptEvents` would emit them."""

    emitted: list[tuple[int, str]] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    async def emit(self, type_: int, **fields: object) -> None:
        self.emitted.append((type_, str(fields.get("reason", ""))))

    async def node_entered(self, node_id: str, tag: str) -> None:
        self.nodes.append(node_id)

    async def reply(self, node_id: str, reply: Reply) -> None:
        self.replies.append(reply)

    @property
    def outcome(self) -> str:
        completed = [reason for type_, reason in self.emitted if type_ == T.CALL_EVENT_TYPE_COMPLETED]
        return completed[-1] if completed else ""

    @property
    def opted_out(self) -> bool:
        return any(type_ == T.CALL_EVENT_TYPE_OPTED_OUT for type_, _ in self.emitted)


@dataclass
class Answered:
    """The callee's side of the answered call."""

    call: IncomingCall
    rtp: RtpSession
    at: float  # loop time of the answer
    heard: list[bytes]  # the robot's audio, 20 ms frames


@dataclass
class Phone:
    port: int
    answered: asyncio.Queue[Answered]


@contextlib.asynccontextmanager
async def phone(clock: MediaClock, *, sends_media: bool = True) -> AsyncIterator[Phone]:
    """A phone that answers at once; with sends_media False it never sends a packet (a dead line)."""
    answered: asyncio.Queue[Answered] = asyncio.Queue()

    async def answer(call: IncomingCall) -> None:
        rtp = await RtpSession.open(clock)
        heard: list[bytes] = []
        rtp.on_frame = heard.append
        try:
            if not await call.answer(rtp.local_port):
                return
            if sends_media:
                assert call.remote_rtp is not None and call.payload_type is not None
                rtp.connect(call.remote_rtp, call.payload_type, call.dtmf_payload_type)
            await answered.put(Answered(call, rtp, asyncio.get_running_loop().time(), heard))
            await call.remote_hangup.wait()
        finally:
            await rtp.close()

    uas = await SipUas.start(answer)
    try:
        yield Phone(uas.local_port, answered)
    finally:
        await uas.close()


# The platform's own sentences sound unlike the campaign's prompts (440 Hz), so a test can tell them apart.
PLATFORM_TONE_HZ = {
    PlatformSentence.OPENING: 1000.0,
    PlatformSentence.ENDING: 2000.0,
    PlatformSentence.OPT_OUT_CONFIRMATION: 3000.0,
}


async def load_platform_prompts(redis: Redis, prompts: Prompts, seconds: float = 0.5) -> None:
    """Stores the platform's sentences as tts would when a dialer starts, and loads them (prompts.load_platform)."""
    for sentence in PlatformSentence:
        for language in LANGUAGES:
            key = audio_key(spoken(sentence.texts, language), default_voice(language), language)
            audio = tone(seconds, PLATFORM_TONE_HZ.get(sentence, 440.0))
            # A real tts (an end-to-end test's) may have stored the spoken sentence under the same key, in
            # its PCMU form too, which a PCMU call would prefer: only the tone may remain.
            await redis.delete(pcmu_key(key))
            await redis.set(keys.tts_audio(key), audio, ex=120)
    await prompts.load_platform(1.0)


@dataclass
class Dialer:
    ctx: DialerContext
    redis: Redis
    dnc: MemoryDncRegistry
    asr: AsrStandIn


@contextlib.asynccontextmanager
async def dialer(redis_url: str, clock: MediaClock, asr: AsrStandIn, **settings: Any) -> AsyncIterator[Dialer]:
    redis = Redis.from_url(redis_url)
    trunk = await SipTrunk.start()
    dnc = MemoryDncRegistry()
    defaults: dict[str, Any] = {"ring_timeout_s": 3, "prompt_ready_before_dial_s": 1.0, "end_of_speech_ms": 300}
    prompts = Prompts(redis, cast(Any, _NoTts()), 1.0)
    await load_platform_prompts(redis, prompts)
    ctx = DialerContext(
        settings=DialerSettings(**{**defaults, **settings}),
        trunk=trunk,
        clock=clock,
        prompts=prompts,
        asr=cast(Any, asr),
        dnc=dnc,
        counters=MemoryCounterStore(),
        audit=MemoryAuditLog(),
    )
    try:
        yield Dialer(ctx, redis, dnc, asr)
    finally:
        await trunk.close()
        await redis.aclose()


async def attempt(
    d: Dialer, phone_port: int, script: scripts_pb2.Script, seconds: dict[str, float], default_s: float = 1.0
) -> events_pb2.DialRequest:
    """A dial request to the phone, with every prompt's audio stored: `seconds` long by text fragment."""
    tenant = f"Клиника {uuid.uuid4().hex[:6]}"
    number = numbers_awake_now(1)[0]
    request = events_pb2.DialRequest(
        attempt_id=f"att-guard-{uuid.uuid4().hex[:8]}",
        tenant_id="t1",
        campaign_id="c1",
        contact_id="k1",
        phone_number=number,
        caller_id="+74950000000",
        script=script,
        language=LANGUAGE,
        voice=VOICE,
        trunk=campaigns_pb2.Trunk(host=LOOPBACK, port=phone_port),
        tenant_display_name=tenant,
        attempt_number=1,
        compliance_profile="default",
        purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
        registered_caller_ids=["+74950000000"],
        expected_duration_seconds=60,
    )
    request.not_after.FromNanoseconds(time.time_ns() + 300 * 10**9)
    texts = [disclosure_text(LANGUAGE, tenant, callback_number=""), spoken(OPT_OUT_CONFIRMATION, LANGUAGE)]
    texts += [node_text(node) for node in script.nodes.values() if node_text(node)]
    for text in texts:
        length = next((s for fragment, s in seconds.items() if fragment in text), default_s)
        key = audio_key(text, VOICE, LANGUAGE)
        await d.redis.delete(pcmu_key(key))  # a real tts's PCMU form of the same text would be preferred
        await d.redis.set(keys.tts_audio(key), tone(length), ex=120)
    return request


async def call(d: Dialer, request: events_pb2.DialRequest) -> tuple[Events, asyncio.Task[None]]:
    """Starts placing the call; the task ends when the dialer is done with the attempt."""
    events = Events()
    return events, asyncio.create_task(place(d.ctx, request, cast(Any, events)))
