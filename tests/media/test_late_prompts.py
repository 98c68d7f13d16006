"""No silent calls when tts is behind (issue #10, item 6): real SIP and RTP through `place`, real Redis.

A callee answered before the campaign's disclosure audio is in the cache hears the platform's opening
(rendered when the dialer started) at once, then the disclosure when it comes, or else the platform's
polite ending and a hangup ("prompt not ready"); a prompt that does not come later in the call also
ends it politely, never in silence. What the callee hears is told apart by pitch: the script's prompts
are stored as 300 Hz tones, the disclosure as 600 Hz, the platform's opening, ending and opt-out
confirmation (dialer_call) as 1000, 2000 and 3000 Hz.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from dialer_call import PLATFORM_TONE_HZ, VOICE, AsrStandIn, attempt, call, dialer, tone
from obzvon import keys
from obzvon.audio import audio_key, pcmu_key
from obzvon.media import MediaClock, RtpSession
from obzvon.media.g711 import PT_PCMA, PT_PCMU, rms
from obzvon.script import OPT_OUT_CONFIRMATION, disclosure_text, load_script_yaml, spoken
from obzvon.sip import IncomingCall, SipUas
from obzvon.v1 import events_pb2
from obzvon.voices import LANGUAGES, default_voice
from obzvon_dialer.prompts import PlatformSentence, PromptMissing, Prompts
from redis.asyncio import Redis

pytestmark = pytest.mark.stack
T = events_pb2.CallEventType
SCRIPT = load_script_yaml("""
start: notice
nodes:
  notice: {say: "Ваш заказ готов.", next: bye}
  bye: {hangup: "До свидания"}
""")
SCRIPT_HZ, DISCLOSURE_HZ = 300.0, 600.0
FIRST_AUDIO_S = 0.3  # answer -> first robot audio, in every case


@dataclass
class Callee:
    """What the phone heard: 20 ms frames with their arrival time, from just before it answered."""

    answering_at: float = 0.0
    answering: asyncio.Event = field(default_factory=asyncio.Event)
    rtp: Any = None  # the phone's RtpSession, once answered
    frames: list[tuple[float, bytes]] = field(default_factory=list)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)

    def first_audio_s(self) -> float:
        voiced = [at for at, frame in self.frames if rms(frame) > 1000]
        return voiced[0] - self.answering_at if voiced else float("inf")

    def heard(self) -> list[str]:
        """The robot's audio as runs of one sound (3 frames or more), in order."""
        runs: list[tuple[str, int]] = []
        for _, frame in self.frames:
            label = _sound(frame)
            if runs and runs[-1][0] == label:
                runs[-1] = (label, runs[-1][1] + 1)
            else:
                runs.append((label, 1))
        out: list[str] = []
        for label, n in runs:
            if label != "silence" and n >= 3 and (not out or out[-1] != label):
                out.append(label)
        return out


def _sound(frame: bytes) -> str:
    if rms(frame) < 1000:
        return "silence"
    samples = memoryview(frame).cast("h")
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    hz = crossings * 25  # crossings in 20 ms: two per cycle
    for name, at in (
        ("script", SCRIPT_HZ),
        ("disclosure", DISCLOSURE_HZ),
        ("opening", PLATFORM_TONE_HZ[PlatformSentence.OPENING]),
        ("ending", PLATFORM_TONE_HZ[PlatformSentence.ENDING]),
        ("confirmation", PLATFORM_TONE_HZ[PlatformSentence.OPT_OUT_CONFIRMATION]),
    ):
        if abs(hz - at) < at * 0.2:
            return name
    return "other"


@contextlib.asynccontextmanager
async def phone(clock: MediaClock) -> AsyncIterator[tuple[int, Callee]]:
    callee = Callee()

    async def answer(incoming: IncomingCall) -> None:
        loop = asyncio.get_running_loop()
        rtp = await RtpSession.open(clock)
        rtp.on_frame = lambda frame: callee.frames.append((loop.time(), frame))
        try:
            callee.answering_at = loop.time()  # before the 200 OK: the strictest start for the 300 ms
            callee.answering.set()
            if not await incoming.answer(rtp.local_port):
                return
            assert incoming.remote_rtp is not None and incoming.payload_type is not None
            rtp.connect(incoming.remote_rtp, incoming.payload_type, incoming.dtmf_payload_type)
            callee.rtp = rtp
            await incoming.remote_hangup.wait()
            callee.hung_up.set()
        finally:
            await rtp.close()

    uas = await SipUas.start(answer)
    try:
        yield uas.local_port, callee
    finally:
        await uas.close()


def disclosure_key(request: events_pb2.DialRequest) -> str:
    text = disclosure_text(request.language, request.tenant_display_name, callback_number=request.callback_number)
    return keys.tts_audio(audio_key(text, request.voice, request.language))


async def pitched_attempt(d: Any, port: int) -> events_pb2.DialRequest:
    """The attempt with the script's prompts at 300 Hz and the disclosure, until a test removes it, at 600 Hz."""
    request = await attempt(d, port, SCRIPT, {}, default_s=0.4)
    for text in ("Ваш заказ готов.", "До свидания"):
        await d.redis.set(keys.tts_audio(audio_key(text, VOICE, "ru")), tone(0.4, SCRIPT_HZ), ex=120)
    await d.redis.set(disclosure_key(request), tone(0.6, DISCLOSURE_HZ), ex=120)
    return request


async def test_a_call_whose_disclosure_never_renders_hears_the_platform_at_once_and_ends_politely(
    test_redis: str, clock: MediaClock
) -> None:
    async with phone(clock) as (port, callee), dialer(test_redis, clock, AsrStandIn()) as d:
        request = await pitched_attempt(d, port)
        await d.redis.delete(disclosure_key(request))  # tts never stores it (down, or far behind)
        events, placing = await call(d, request)
        await asyncio.wait_for(placing, 15)
        await asyncio.wait_for(callee.hung_up.wait(), 5)
    assert callee.first_audio_s() < FIRST_AUDIO_S
    assert callee.heard() == ["opening", "ending"]
    assert events.outcome == "prompt not ready"


async def test_a_disclosure_that_renders_late_follows_the_platform_opening_and_the_script_goes_on(
    test_redis: str, clock: MediaClock
) -> None:
    async with phone(clock) as (port, callee), dialer(test_redis, clock, AsrStandIn()) as d:
        request = await pitched_attempt(d, port)
        await d.redis.delete(disclosure_key(request))
        events, placing = await call(d, request)
        await asyncio.wait_for(callee.answering.wait(), 5)
        await asyncio.sleep(0.7)  # tts stores the disclosure after the opening (0.5 s), inside the wait (1 s)
        await d.redis.set(disclosure_key(request), tone(0.6, DISCLOSURE_HZ), ex=120)
        await asyncio.wait_for(placing, 15)
    assert callee.first_audio_s() < FIRST_AUDIO_S
    assert callee.heard() == ["opening", "disclosure", "script"]
    assert events.outcome == "completed"


async def test_a_later_prompt_that_never_renders_ends_the_call_politely_not_in_silence(
    test_redis: str, clock: MediaClock
) -> None:
    async with phone(clock) as (port, callee), dialer(test_redis, clock, AsrStandIn()) as d:
        request = await pitched_attempt(d, port)
        await d.redis.delete(keys.tts_audio(audio_key("Ваш заказ готов.", VOICE, "ru")))
        events, placing = await call(d, request)
        await asyncio.wait_for(placing, 15)
        await asyncio.wait_for(callee.hung_up.wait(), 5)
    assert callee.first_audio_s() < FIRST_AUDIO_S
    assert callee.heard() == ["disclosure", "ending"]  # the robot had spoken: no opening, and no silence to the end
    assert events.outcome == "prompt not ready"


async def test_an_opt_out_whose_confirmation_is_not_rendered_is_confirmed_in_the_platform_voice(
    test_redis: str, clock: MediaClock
) -> None:
    async with phone(clock) as (port, callee), dialer(test_redis, clock, AsrStandIn()) as d:
        request = await pitched_attempt(d, port)
        await d.redis.set(disclosure_key(request), tone(2.0, DISCLOSURE_HZ), ex=120)
        confirmation = spoken(OPT_OUT_CONFIRMATION, "ru")
        await d.redis.delete(keys.tts_audio(audio_key(confirmation, VOICE, "ru")))  # expired from the cache
        events, placing = await call(d, request)
        await asyncio.wait_for(callee.answering.wait(), 5)
        await asyncio.sleep(0.8)
        callee.rtp.send_dtmf("9")  # during the disclosure
        await asyncio.wait_for(placing, 15)
    assert callee.heard() == ["disclosure", "confirmation"]  # at once, not after a wait for tts
    assert events.outcome == "opted out"
    assert await d.dnc.check(request.phone_number, request.tenant_id) is not None


async def test_no_call_is_placed_before_the_platform_prompts_are_loaded(test_redis: str, clock: MediaClock) -> None:
    async with phone(clock) as (port, callee), dialer(test_redis, clock, AsrStandIn()) as d:
        request = await pitched_attempt(d, port)
        d.ctx.prompts = Prompts(d.redis, cast(Any, d.ctx.prompts._producer), 1.0)  # as if tts was down at start-up
        request.not_after.FromNanoseconds(time.time_ns() + 600_000_000)
        events, placing = await call(d, request)
        await asyncio.wait_for(placing, 5)
        await asyncio.sleep(0.2)  # room for a wrongful INVITE to arrive
    assert callee.answering_at == 0.0  # never rung
    assert events.emitted == [(T.CALL_EVENT_TYPE_FAILED, "expired waiting for the platform prompts")]


class Requests:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, topic: object, key: str, value: object) -> None:
        self.sent.append(key)


async def test_the_platform_prompts_are_asked_of_tts_and_held_once_stored(test_redis: str) -> None:
    redis = Redis.from_url(test_redis)
    producer = Requests()
    prompts = Prompts(redis, cast(Any, producer), 1.0)
    wanted = {
        (sentence, lang): audio_key(spoken(sentence.texts, lang), default_voice(lang), lang)
        for sentence in PlatformSentence
        for lang in LANGUAGES
    }
    try:
        for key in wanted.values():  # this test's Redis database: tts has rendered none of them yet
            await redis.delete(keys.tts_audio(key), pcmu_key(key))
        with pytest.raises(PromptMissing):
            prompts.platform(PlatformSentence.OPENING, "ru", PT_PCMU)
        loading = asyncio.create_task(prompts.load_platform(3.0))
        await asyncio.sleep(0.3)
        assert sorted(producer.sent) == sorted(wanted.values())  # asked of tts (tts.requests), each language
        assert not loading.done() and not await prompts.platform_ready(0.0)  # and waited for
        for (sentence, _), key in wanted.items():
            await redis.set(pcmu_key(key), b"\x9a" * 1600, ex=60)  # as tts writes them: PCMU, then PCM16
            await redis.set(keys.tts_audio(key), tone(0.2, 1000.0 if sentence is PlatformSentence.OPENING else 440.0))
        await asyncio.wait_for(loading, 3)
        for key in wanted.values():
            await redis.delete(keys.tts_audio(key), pcmu_key(key))  # held in memory: the cache may lose them now
        assert prompts.platform(PlatformSentence.OPENING, "ru", PT_PCMA).data == tone(0.2, 1000.0)
        assert prompts.platform(PlatformSentence.OPENING, "en", PT_PCMU).data == b"\x9a" * 1600
        assert await prompts.platform_ready(0.0)
    finally:
        await redis.aclose()
