"""Consumes tts.requests, renders what is not cached, stores PCM16 in Redis, announces tts.ready."""

from __future__ import annotations

import asyncio
import logging

from obzvon import keys
from obzvon.audio import SAMPLE_RATE
from obzvon.bus import Consumer, Envelope, Producer
from obzvon.topics import TTS_READY
from obzvon.v1 import events_pb2
from redis.asyncio import Redis

from obzvon_tts.engines import RenderError, resolve
from obzvon_tts.settings import TtsSettings

log = logging.getLogger(__name__)


class TtsService:
    def __init__(self, settings: TtsSettings, redis: Redis, producer: Producer,
                 consumer: Consumer[events_pb2.TtsRequest]) -> None:
        self._settings = settings
        self._redis = redis
        self._producer = producer
        self._consumer = consumer
        self._slots = asyncio.Semaphore(settings.render_concurrency)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await self._consumer.getmany(timeout_s=0.5)
            await asyncio.gather(*(self.handle(env.value) for env in batch))
            if batch:
                await self._commit(batch)

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

    async def _render(self, request: events_pb2.TtsRequest) -> events_pb2.TtsReady:
        key = keys.tts_audio(request.audio_key)
        cached = await self._redis.strlen(key)
        if cached:
            return events_pb2.TtsReady(audio_key=request.audio_key, duration_ms=cached * 1000 // (2 * SAMPLE_RATE))
        error = ""
        if not request.text.strip():
            error = "empty text"
        elif len(request.text) > self._settings.max_text_chars:
            error = f"text of {len(request.text)} characters is over the limit of {self._settings.max_text_chars}"
        if error:
            return events_pb2.TtsReady(audio_key=request.audio_key, error=error)
        try:
            engine, voice = resolve(request.voice, request.language)
            async with self._slots:
                pcm = await engine.render(request.text, voice, request.language)
        except (RenderError, OSError) as e:
            log.warning("render failed", extra={"audio_key": request.audio_key, "error": str(e)})
            return events_pb2.TtsReady(audio_key=request.audio_key, error=str(e))
        if len(pcm) > self._settings.max_audio_bytes:
            return events_pb2.TtsReady(audio_key=request.audio_key, error="rendered audio over the size bound")
        await self._redis.set(key, pcm, ex=self._settings.audio_ttl_s)
        log.info("rendered", extra={"audio_key": request.audio_key, "voice": request.voice, "bytes": len(pcm)})
        return events_pb2.TtsReady(audio_key=request.audio_key, duration_ms=len(pcm) * 1000 // (2 * SAMPLE_RATE))
