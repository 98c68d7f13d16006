"""Prompt audio: taken from the tts cache in Redis, requested from tts when missing.

tts stores every prompt as PCM16 and as G.711 µ-law (docs/tts.md). `stored_forms` is where a call's
codec picks the form it plays: a PCMU call sends the stored µ-law bytes as RTP payloads untouched;
a PCMA call, or audio cached before tts stored µ-law, plays PCM16 that the RTP session encodes per packet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

from obzvon import keys
from obzvon.audio import SAMPLE_RATE, audio_key, pcmu_key
from obzvon.bus import Producer
from obzvon.media import g711
from obzvon.topics import TTS_REQUESTS
from obzvon.v1 import events_pb2
from redis.asyncio import Redis


class PromptMissing(Exception):
    pass


@dataclass(frozen=True)
class PromptAudio:
    """One prompt as a call plays it: `RtpSession.play(data, encoded_as=encoded_as)`."""

    data: bytes
    encoded_as: int | None  # G.711 payload type of data (sent as is); None: PCM16 (encoded per packet)

    @property
    def duration_s(self) -> float:
        bytes_per_sample = 2 if self.encoded_as is None else 1
        return len(self.data) / (bytes_per_sample * SAMPLE_RATE)


def stored_forms(key: str, payload_type: int) -> list[tuple[str, int | None]]:
    """The Redis keys of the stored forms a call in `payload_type` can play, best first, each with its encoding."""
    pcm16 = (keys.tts_audio(key), None)
    if payload_type == g711.PT_PCMU:
        return [(pcmu_key(key), g711.PT_PCMU), pcm16]
    return [pcm16]


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

    async def missing(self, audio_keys: Iterable[str]) -> list[str]:
        """The audio keys tts has not stored yet."""
        # The PCM16 form is the one every call can play, and tts writes it last (docs/tts.md): once it is
        # there, every stored form is.
        return [key for key in audio_keys if not await self._redis.exists(keys.tts_audio(key))]

    async def wait_ready(self, audio_keys: Sequence[str], timeout_s: float) -> list[str]:
        """Waits until tts has stored every key's audio, up to timeout_s; the keys still missing then."""
        pending = list(audio_keys)
        async for _ in _polls(timeout_s):
            pending = await self.missing(pending)
            if not pending:
                break
        return pending

    async def audio(self, text: str, voice: str, language: str, payload_type: int) -> PromptAudio:
        """The text's audio for a call in `payload_type` (PCMU or PCMA); waits for tts up to wait_s."""
        key = await self.request(text, voice, language)
        async for _ in _polls(self._wait_s):
            for redis_key, encoded_as in stored_forms(key, payload_type):
                data = await self._redis.get(redis_key)
                if data:
                    return PromptAudio(data if isinstance(data, bytes) else data.encode("latin-1"), encoded_as)
        raise PromptMissing(f"no audio for prompt {key} after {self._wait_s} s")


async def _polls(timeout_s: float) -> AsyncIterator[None]:
    """Yields at once, then after pauses growing from 20 ms to 250 ms, the last time at timeout_s:
    how the dialer checks Redis for audio tts is still rendering."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    delay = 0.02
    yield
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, 0.25)
        yield
