"""TTS throughput per engine and the cost of a cache hit; prints ONE JSON line.

chars_per_s_per_core: one renderer working sequentially (one core's worth), spoken characters of
normalised Russian/English prompts divided by wall time, after a warm-up render (Piper's model load).
cache_hit_ms: the service's own path for audio already in Redis: `lookup` is TtsService.cached (one
Redis round trip), `handle` adds the tts.ready publish (acks=all). Needs Kafka and Redis on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid

from obzvon.audio import audio_key
from obzvon.bus import Consumer, Producer, ensure_topics
from obzvon.topics import TTS_READY, TTS_REQUESTS
from obzvon.v1 import events_pb2
from obzvon_tts.engines import ENGINES, close_engines, synthesize
from obzvon_tts.service import TtsService
from obzvon_tts.settings import TtsSettings
from redis.asyncio import Redis

PROMPTS = {
    "ru": [
        "Здравствуйте, Иван Петрович! Клиника «Здоровье» напоминает о приёме 25.12.2026 в 10:30.",
        "Вы придёте? Скажите да или нет, или нажмите 1 или 2.",
        "Задолженность 1500 руб. Оплатите до 01.03, пожалуйста.",
    ],
    "en": [
        "Hello, John! Health Clinic reminds you of your appointment on 12/25/2026 at 10:30.",
        "Will you come? Say yes or no, or press 1 or 2.",
        "Your balance is $1,500.50. Please pay by March 1st.",
    ],
}
SECONDS_PER_ENGINE = 8.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


async def engine_rate(engine: str, voice: str, language: str) -> dict[str, float]:
    await synthesize(PROMPTS[language][1], voice, language)
    chars, renders, latencies = 0, 0, []
    start = time.perf_counter()
    while time.perf_counter() - start < SECONDS_PER_ENGINE:
        text = PROMPTS[language][renders % len(PROMPTS[language])]
        t0 = time.perf_counter()
        await synthesize(text, voice, language)
        latencies.append((time.perf_counter() - t0) * 1000)
        chars += len(text)
        renders += 1
    wall = time.perf_counter() - start
    return {
        "chars_per_s_per_core": round(chars / wall, 1),
        "renders": renders,
        "render_ms_p50": pct(latencies, 0.5),
        "render_ms_p95": pct(latencies, 0.95),
    }


async def cache_hits(n: int = 300) -> dict[str, float]:
    settings = TtsSettings(topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.")
    await ensure_topics(settings, [TTS_REQUESTS, TTS_READY])
    redis = Redis.from_url(settings.redis_url)
    text = "Кэшированная фраза для замера"
    key = audio_key(text, "espeak-ng:ru", "ru")
    request = events_pb2.TtsRequest(audio_key=key, text=text, voice="espeak-ng:ru", language="ru")
    async with Producer(settings) as producer:
        consumer: Consumer[events_pb2.TtsRequest] = Consumer(settings, TTS_REQUESTS, group_id=None)
        service = TtsService(settings, redis, producer, consumer)
        first = await service.handle(request)
        assert not first.error, first.error
        lookup, handle = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            assert await service.cached(key) is not None
            lookup.append((time.perf_counter() - t0) * 1000)
        for _ in range(n // 3):
            t0 = time.perf_counter()
            await service.handle(request)
            handle.append((time.perf_counter() - t0) * 1000)
        await consumer.stop()  # never started; closing it keeps aiokafka from warning at exit
    await redis.aclose()
    return {
        "lookup_p50_ms": pct(lookup, 0.5),
        "lookup_p95_ms": pct(lookup, 0.95),
        "handle_p50_ms": pct(handle, 0.5),
        "handle_p95_ms": pct(handle, 0.95),
        "mean_lookup_ms": round(statistics.fmean(lookup), 3),
    }


async def main() -> None:
    result: dict[str, object] = {"bench": "tts_throughput"}
    engines: dict[str, object] = {}
    for name, voice, language in (
        ("espeak-ng", "espeak-ng:ru", "ru"),
        ("festival", "festival:ru", "ru"),
        ("festival-en", "festival:en", "en"),
        ("piper", "piper:en", "en"),
    ):
        if voice.partition(":")[2] in ENGINES[voice.partition(":")[0]].voices():
            engines[name] = await engine_rate(name, voice, language)
    result["engines"] = engines
    await close_engines()  # Festival's resident workers
    result["cache_hit_ms"] = await cache_hits()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
