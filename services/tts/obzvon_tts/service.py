"""Consumes tts.requests, renders what is not cached, stores PCM16 and PCMU in Redis, announces tts.ready.

Redis layout per audio key (both with the same TTL, see docs/tts.md):
  ``keys.tts_audio(k)``         PCM16 little-endian mono 8 kHz (the dialer encodes it per packet on PCMA calls)
  ``obzvon.audio.pcmu_key(k)``  the same audio as G.711 µ-law, one byte a sample, sent as is on PCMU calls
"""

from __future__ import annotations

import asyncio
import logging

from obzvon import keys
from obzvon.audio import SAMPLE_RATE, pcmu_key
from obzvon.bus import Consumer, Envelope, Producer
from obzvon.media import g711
from obzvon.topics import TTS_READY
from obzvon.v1 import events_pb2
from redis.asyncio import Redis

from obzvon_tts import metrics
from obzvon_tts.engines import ENGINES, Engine, FestivalEngine, RenderError, close_engines, synthesize
from obzvon_tts.settings import TtsSettings

log = logging.getLogger(__name__)

__all__ = ["TtsService", "pcmu_key"]


def _ready(audio_key: str, pcm16_bytes: int) -> events_pb2.TtsReady:
    return events_pb2.TtsReady(audio_key=audio_key, duration_ms=pcm16_bytes * 1000 // (2 * SAMPLE_RATE))


class TtsService:
    def __init__(
        self,
        settings: TtsSettings,
        redis: Redis,
        producer: Producer,
        consumer: Consumer[events_pb2.TtsRequest],
        engines: dict[str, Engine] | None = None,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._producer = producer
        self._consumer = consumer
        self._engines = ENGINES if engines is None else engines
        self._slots = asyncio.Semaphore(settings.render_concurrency)
        for engine in self._engines.values():
            if isinstance(engine, FestivalEngine):
                engine.configure(workers_per_voice=settings.festival_workers, timeout_s=settings.festival_timeout_s)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await self._consumer.getmany(timeout_s=0.5)
            await asyncio.gather(*(self.handle(env.value) for env in batch))
            if batch:
                await self._commit(batch)

    async def aclose(self) -> None:
        """Stops the engines' resident processes (Festival's workers); call once run() has returned."""
        await close_engines(self._engines)

    async def _commit(self, batch: list[Envelope[events_pb2.TtsRequest]]) -> None:
        last: dict[int, Envelope[events_pb2.TtsRequest]] = {}
        for env in batch:
            last[env.partition] = env
        for env in last.values():
            await self._consumer.commit(env)

    async def handle(self, request: events_pb2.TtsRequest) -> events_pb2.TtsReady:
        ready = await self._render(request)
        await self._producer.send(TTS_READY, request.audio_key, ready)
        return ready

    async def cached(self, audio_key: str) -> events_pb2.TtsReady | None:
        """The ready event for audio already stored in both formats, in one Redis round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.strlen(keys.tts_audio(audio_key))
            pipe.strlen(pcmu_key(audio_key))
            pcm16_len, pcmu_len = await pipe.execute()
        if pcm16_len and pcmu_len:
            return _ready(audio_key, int(pcm16_len))
        return None

    def _reject(self, request: events_pb2.TtsRequest) -> str:
        if not request.audio_key:
            return "no audio key"
        if not request.text.strip():
            return "empty text"
        if len(request.text) > self._settings.max_text_chars:
            return f"text of {len(request.text)} characters is over the limit of {self._settings.max_text_chars}"
        return ""

    async def _render(self, request: events_pb2.TtsRequest) -> events_pb2.TtsReady:
        hit = await self.cached(request.audio_key)
        metrics.CACHE.labels(result="miss" if hit is None else "hit").inc()
        if hit is not None:
            return hit
        error = self._reject(request)
        if error:
            log.warning("request rejected", extra={"audio_key": request.audio_key, "error": error})
            return events_pb2.TtsReady(audio_key=request.audio_key, error=error)
        try:
            async with self._slots:
                with metrics.RENDER.time():
                    pcm = await synthesize(request.text, request.voice, request.language, self._engines)
        except (RenderError, OSError) as e:
            log.warning("render failed", extra={"audio_key": request.audio_key, "error": str(e)})
            return events_pb2.TtsReady(audio_key=request.audio_key, error=str(e))
        except Exception as e:
            # A request that breaks an engine must not stop the consumer: it would be redelivered and
            # break it again (a crash loop). It is answered with the error and committed.
            log.exception("render crashed", extra={"audio_key": request.audio_key})
            return events_pb2.TtsReady(audio_key=request.audio_key, error=f"render failed: {type(e).__name__}: {e}")
        if not pcm:
            return events_pb2.TtsReady(audio_key=request.audio_key, error="engine rendered no audio")
        if len(pcm) > self._settings.max_audio_bytes:
            return events_pb2.TtsReady(
                audio_key=request.audio_key,
                error=f"rendered audio of {len(pcm)} bytes is over the bound of {self._settings.max_audio_bytes}",
            )
        key = keys.tts_audio(request.audio_key)
        # PCMU first: the dialer polls for the PCM16 key, so when that exists the PCMU one does too.
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(pcmu_key(request.audio_key), g711.encode(pcm, g711.PT_PCMU), ex=self._settings.audio_ttl_s)
            pipe.set(key, pcm, ex=self._settings.audio_ttl_s)
            await pipe.execute()
        log.info("rendered", extra={"audio_key": request.audio_key, "voice": request.voice, "bytes": len(pcm)})
        return _ready(request.audio_key, len(pcm))
