"""Which stored form of a prompt a call plays: stored PCMU as is on PCMU calls, else PCM16 (pure logic, fake Redis)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from obzvon import keys
from obzvon.audio import audio_key, pcmu_key
from obzvon.media.g711 import PT_PCMA, PT_PCMU
from obzvon_dialer.prompts import PromptAudio, PromptMissing, Prompts, stored_forms

TEXT, VOICE, LANGUAGE = "Здравствуйте!", "espeak-ng:ru", "ru"
KEY = audio_key(TEXT, VOICE, LANGUAGE)
PCM16 = b"\x10\x00" * 800  # 0.1 s
PCMU = b"\x9a" * 800  # 0.1 s; deliberately not the encoding of PCM16, so the test sees which form was read


class FakeRedis:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data
        self.gets: list[str] = []

    async def exists(self, key: str) -> int:
        return int(key in self.data)

    async def get(self, key: str) -> bytes | None:
        self.gets.append(key)
        return self.data.get(key)


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, topic: object, key: str, value: object) -> None:
        self.sent.append(key)


def prompts(data: dict[str, bytes], wait_s: float = 1.0) -> tuple[Prompts, FakeRedis, FakeProducer]:
    redis, producer = FakeRedis(data), FakeProducer()
    return Prompts(cast(Any, redis), cast(Any, producer), wait_s), redis, producer


def test_pcmu_calls_try_the_stored_pcmu_first_then_pcm16() -> None:
    assert stored_forms(KEY, PT_PCMU) == [(pcmu_key(KEY), PT_PCMU), (keys.tts_audio(KEY), None)]
    assert pcmu_key(KEY) == keys.tts_audio(KEY) + ":pcmu"  # the key tts writes


def test_pcma_calls_play_pcm16() -> None:
    assert stored_forms(KEY, PT_PCMA) == [(keys.tts_audio(KEY), None)]


async def test_pcmu_call_gets_the_stored_pcmu_bytes_in_one_read() -> None:
    p, redis, producer = prompts({keys.tts_audio(KEY): PCM16, pcmu_key(KEY): PCMU})
    prompt = await p.audio(TEXT, VOICE, LANGUAGE, PT_PCMU)
    assert prompt == PromptAudio(PCMU, PT_PCMU)
    assert redis.gets == [pcmu_key(KEY)]  # PCM16 is not fetched
    assert producer.sent == []


async def test_pcma_call_gets_pcm16() -> None:
    p, redis, _ = prompts({keys.tts_audio(KEY): PCM16, pcmu_key(KEY): PCMU})
    assert await p.audio(TEXT, VOICE, LANGUAGE, PT_PCMA) == PromptAudio(PCM16, None)
    assert redis.gets == [keys.tts_audio(KEY)]


async def test_pcmu_call_falls_back_to_pcm16_cached_without_pcmu() -> None:
    p, _, producer = prompts({keys.tts_audio(KEY): PCM16})  # cached before tts stored µ-law
    assert await p.audio(TEXT, VOICE, LANGUAGE, PT_PCMU) == PromptAudio(PCM16, None)
    assert producer.sent == []


async def test_missing_prompt_is_requested_then_times_out() -> None:
    p, _, producer = prompts({}, wait_s=0.05)
    with pytest.raises(PromptMissing):
        await p.audio(TEXT, VOICE, LANGUAGE, PT_PCMU)
    assert producer.sent == [KEY]


def test_duration_counts_one_byte_a_sample_for_g711_and_two_for_pcm16() -> None:
    assert PromptAudio(PCMU, PT_PCMU).duration_s == pytest.approx(0.1)
    assert PromptAudio(PCM16, None).duration_s == pytest.approx(0.1)
