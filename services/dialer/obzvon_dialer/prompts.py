"""Prompt audio: taken from the tts cache in Redis, requested from tts when missing."""

from __future__ import annotations

import asyncio

from obzvon import keys
from obzvon.audio import audio_key
from obzvon.bus import Producer
from obzvon.topics import TTS_REQUESTS
from obzvon.v1 import events_pb2
from redis.asyncio import Redis


class PromptMissing(Exception):
    pass


class Prompts:
    def __init__(self, redis: Redis, producer: Producer, wait_s: float) -> None:
        self._redis = redis
        self._producer = producer
        self._wait_s = wait_s

    async def request(self, text: str, voice: str, language: str) -> str:
        """Asks tts to render (if not cached) and returns the audio key; does not wait."""
        key = audio_key(text, voice, language)
        if not await self._redis.exists(keys.tts_audio(key)):
            await self._producer.send(
                TTS_REQUESTS, key, events_pb2.TtsRequest(audio_key=key, text=text, voice=voice, language=language)
            )
        return key

    async def audio(self, text: str, voice: str, language: str) -> bytes:
        """PCM16 8 kHz of the text; waits for tts up to wait_s."""
        key = await self.request(text, voice, language)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        delay = 0.02
        while True:
            pcm = await self._redis.get(keys.tts_audio(key))
            if pcm:
                return pcm if isinstance(pcm, bytes) else pcm.encode("latin-1")
            if loop.time() > deadline:
                raise PromptMissing(f"no audio for prompt {key} after {self._wait_s} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
