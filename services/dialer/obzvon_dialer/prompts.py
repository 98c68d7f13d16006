"""Prompt audio: taken from the tts cache in Redis, requested from tts when missing.

tts stores every prompt as PCM16 and as G.711 µ-law (docs/tts.md). `stored_forms` is where a call's
codec picks the form it plays: a PCMU call sends the stored µ-law bytes as RTP payloads untouched;
a PCMA call, or audio cached before tts stored µ-law, plays PCM16 that the RTP session encodes per packet.

The platform's own sentences (PlatformSentence) are rendered by tts when the dialer starts, in every
language and the language's default voice, and kept in memory: what a call plays when its campaign's
audio is not there (the opening at answer, the polite ending, the opt-out confirmation), so no callee
answers into silence however far behind tts is.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass

from obzvon import keys
from obzvon.audio import SAMPLE_RATE, audio_key, pcmu_key
from obzvon.bus import Producer
from obzvon.media import g711
from obzvon.script import AUTOMATED_CALL, CANNOT_CONTINUE, OPT_OUT_CONFIRMATION, spoken
from obzvon.topics import TTS_REQUESTS
from obzvon.v1 import events_pb2
from obzvon.voices import LANGUAGES, default_voice
from redis.asyncio import Redis

log = logging.getLogger(__name__)


class PromptMissing(Exception):
    pass


class PlatformSentence(enum.Enum):
    """The platform's own sentences a call can fall back on (texts in obzvon.script)."""

    OPENING = "opening"  # AUTOMATED_CALL: at answer, while the campaign's disclosure renders
    ENDING = "ending"  # CANNOT_CONTINUE: before hanging up a call whose prompt did not come
    OPT_OUT_CONFIRMATION = "opt-out confirmation"

    @property
    def texts(self) -> Mapping[str, str]:
        return {
            PlatformSentence.OPENING: AUTOMATED_CALL,
            PlatformSentence.ENDING: CANNOT_CONTINUE,
            PlatformSentence.OPT_OUT_CONFIRMATION: OPT_OUT_CONFIRMATION,
        }[self]


@dataclass(frozen=True)
class _StoredAudio:
    """A platform sentence's audio as tts stored it, held in memory: PCM16, and µ-law when tts wrote it."""

    pcm16: bytes
    pcmu: bytes

    def for_call(self, payload_type: int) -> PromptAudio:
        if payload_type == g711.PT_PCMU and self.pcmu:
            return PromptAudio(self.pcmu, g711.PT_PCMU)
        return PromptAudio(self.pcm16, None)


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
        self._platform: dict[tuple[PlatformSentence, str], _StoredAudio] = {}
        self._platform_loaded = asyncio.Event()

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
            prompt = await self._stored(key, payload_type)
            if prompt is not None:
                return prompt
        raise PromptMissing(f"no audio for prompt {key} after {self._wait_s} s")

    async def cached(self, text: str, voice: str, language: str, payload_type: int) -> PromptAudio | None:
        """The text's audio if tts has stored it; None when it has not (yet). Asks tts for nothing."""
        return await self._stored(audio_key(text, voice, language), payload_type)

    async def _stored(self, key: str, payload_type: int) -> PromptAudio | None:
        for redis_key, encoded_as in stored_forms(key, payload_type):
            data = await self._redis.get(redis_key)
            if data:
                return PromptAudio(_as_bytes(data), encoded_as)
        return None

    # -- the platform's own sentences -------------------------------------------------------------

    async def load_platform(self, timeout_s: float) -> None:
        """Asks tts for every platform sentence in every language and keeps their audio in memory;
        PromptMissing when tts has not stored them all within timeout_s."""
        wanted: dict[tuple[PlatformSentence, str], str] = {}
        for sentence in PlatformSentence:
            for language in LANGUAGES:
                text = spoken(sentence.texts, language)
                wanted[(sentence, language)] = await self.request(text, default_voice(language), language)
        missing = await self.wait_ready(list(wanted.values()), timeout_s)
        if missing:
            raise PromptMissing(f"{len(missing)} of {len(wanted)} platform prompts not rendered in {timeout_s} s")
        loaded: dict[tuple[PlatformSentence, str], _StoredAudio] = {}
        for name, key in wanted.items():
            pcm16 = await self._redis.get(keys.tts_audio(key))
            if not pcm16:
                raise PromptMissing(f"platform prompt {key} expired while loading")
            pcmu = await self._redis.get(pcmu_key(key))
            loaded[name] = _StoredAudio(_as_bytes(pcm16), _as_bytes(pcmu) if pcmu else b"")
        self._platform = loaded
        self._platform_loaded.set()

    async def keep_loading_platform(self, round_s: float = 10.0) -> None:
        """load_platform until it succeeds (for the dialer's start-up; tts may still be starting, or down:
        meanwhile `place` dials nothing, see platform_ready)."""
        while True:
            try:
                await self.load_platform(round_s)
            except Exception as e:  # tts behind or down, Redis or Kafka for a moment: ask again
                log.warning("platform prompts not ready: no call is placed until they are", extra={"error": str(e)})
                await asyncio.sleep(1.0)  # a round that failed at once (the bus down) must not spin
                continue
            log.info("platform prompts loaded", extra={"prompts": len(self._platform)})
            return

    async def platform_ready(self, timeout_s: float) -> bool:
        """Whether the platform sentences are in memory, waiting for them up to timeout_s."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._platform_loaded.wait(), timeout_s)
        return self._platform_loaded.is_set()

    def platform(self, sentence: PlatformSentence, language: str, payload_type: int) -> PromptAudio:
        """A platform sentence's audio, from memory (no wait); English where the language has none;
        PromptMissing before load_platform succeeded."""
        stored = self._platform.get((sentence, language)) or self._platform.get((sentence, "en"))
        if stored is None:
            raise PromptMissing(f"platform prompt {sentence.value} not loaded")
        return stored.for_call(payload_type)


def _as_bytes(data: bytes | str) -> bytes:
    return data if isinstance(data, bytes) else data.encode("latin-1")


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
