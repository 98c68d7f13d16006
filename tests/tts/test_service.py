"""The tts service in-process against the local Kafka and Redis: cache, both formats, bad input."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from obzvon import keys
from obzvon.audio import audio_key
from obzvon.bus import Consumer, Producer, ensure_topics
from obzvon.media import g711
from obzvon.topics import TTS_READY, TTS_REQUESTS
from obzvon.v1 import events_pb2
from obzvon_tts.engines import ENGINES, Engine
from obzvon_tts.service import TtsService, pcmu_key
from obzvon_tts.settings import TtsSettings
from redis.asyncio import Redis

pytestmark = pytest.mark.stack


class CountingEngine:
    """Wraps a real engine and counts renders; "boom" makes it raise like a broken engine would."""

    def __init__(self, inner: Engine) -> None:
        self.name = inner.name
        self._inner = inner
        self.calls = 0

    def voices(self) -> dict[str, str]:
        return self._inner.voices()

    async def render(self, text: str, voice: str) -> bytes:
        self.calls += 1
        if "boom" in text:
            raise ValueError("engine blew up")
        return await self._inner.render(text, voice)


@dataclass
class Running:
    settings: TtsSettings
    redis: Redis
    producer: Producer
    engine: CountingEngine
    ready: Consumer[events_pb2.TtsReady]
    got: dict[str, events_pb2.TtsReady] = field(default_factory=dict)

    async def request(self, text: str, voice: str = "espeak-ng:ru", language: str = "ru") -> str:
        key = audio_key(text, voice, language)
        await self.producer.send(
            TTS_REQUESTS, key, events_pb2.TtsRequest(audio_key=key, text=text, voice=voice, language=language)
        )
        return key

    async def wait(self, *audio_keys: str, count: int = 1, timeout_s: float = 20) -> list[events_pb2.TtsReady]:
        """The next `count` ready events for each key, in order of arrival."""
        seen: list[events_pb2.TtsReady] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while sum(1 for r in seen if r.audio_key in audio_keys) < count * len(audio_keys):
            assert asyncio.get_running_loop().time() < deadline, f"no tts.ready for {audio_keys}; got {seen}"
            seen += [env.value for env in await self.ready.getmany(timeout_s=0.3)]
        return [r for r in seen if r.audio_key in audio_keys]


@pytest.fixture
async def tts(test_redis: str) -> AsyncIterator[Running]:
    settings = TtsSettings(
        topic_prefix=f"t-{uuid.uuid4().hex[:10]}.", redis_url=test_redis, max_text_chars=200, audio_ttl_s=600
    )
    await ensure_topics(settings, [TTS_REQUESTS, TTS_READY])
    redis = Redis.from_url(settings.redis_url)
    engine = CountingEngine(ENGINES["espeak-ng"])
    engines: dict[str, Engine] = {**ENGINES, "espeak-ng": engine}
    stop = asyncio.Event()
    async with (
        Producer(settings) as producer,
        Consumer(settings, TTS_REQUESTS, group_id=f"{settings.topic_prefix}tts") as consumer,
        Consumer(settings, TTS_READY, group_id=None, partitions=[0, 1, 2, 3]) as ready,
    ):
        task = asyncio.create_task(TtsService(settings, redis, producer, consumer, engines).run(stop))
        try:
            yield Running(settings, redis, producer, engine, ready)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    await redis.aclose()


async def test_renders_both_formats_once_and_serves_the_cache(tts: Running) -> None:
    key = await tts.request("Приём завтра в 10:30, долг 1500 руб.")
    (first,) = await tts.wait(key)
    assert not first.error and first.duration_ms > 1000
    pcm16 = await tts.redis.get(keys.tts_audio(key))
    pcmu = await tts.redis.get(pcmu_key(key))
    assert pcm16 and pcmu and len(pcmu) * 2 == len(pcm16)
    assert pcmu == g711.encode(pcm16, g711.PT_PCMU)
    assert 0 < await tts.redis.ttl(keys.tts_audio(key)) <= 600
    assert 0 < await tts.redis.ttl(pcmu_key(key)) <= 600
    assert tts.engine.calls == 1

    await tts.request("Приём завтра в 10:30, долг 1500 руб.")
    await tts.request("Приём завтра в 10:30, долг 1500 руб.")
    again = await tts.wait(key, count=2)
    assert [r.duration_ms for r in again] == [first.duration_ms] * 2
    assert tts.engine.calls == 1  # cached audio never reaches an engine


@pytest.mark.parametrize(
    ("text", "voice", "error"),
    [
        ("", "espeak-ng:ru", "empty text"),
        ("   ", "espeak-ng:ru", "empty text"),
        ("Привет", "nosuch:ru", 'unknown TTS engine "nosuch"'),
        ("Привет", "espeak-ng:klingon", 'unknown espeak-ng voice "klingon"'),
        ("да " * 100, "espeak-ng:ru", "over the limit of 200"),
        ("boom", "espeak-ng:ru", "engine blew up"),
    ],
)
async def test_bad_input_is_an_error_event_and_the_service_goes_on(
    tts: Running, text: str, voice: str, error: str
) -> None:
    bad = await tts.request(text, voice)
    good = await tts.request(f"после ошибки {uuid.uuid4().hex[:4]}")
    ready = {r.audio_key: r for r in await tts.wait(bad, good)}
    assert error in ready[bad].error and ready[bad].duration_ms == 0
    assert not await tts.redis.exists(keys.tts_audio(bad), pcmu_key(bad))
    assert not ready[good].error and ready[good].duration_ms > 0
