"""TTS engines behind one interface. A voice is "<engine>:<voice>", e.g. "espeak-ng:ru"."""

from __future__ import annotations

import asyncio
import io
import wave
from typing import ClassVar, Protocol

from obzvon.media.wav import to_pcm16_8k


class RenderError(Exception):
    """The text cannot be rendered in that voice (clear message, never retried)."""


class Engine(Protocol):
    name: str

    async def render(self, text: str, voice: str, language: str) -> bytes:
        """PCM16 little-endian mono at 8 kHz."""
        ...


def wav_to_pcm8k(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
        return to_pcm16_8k(frames, rate=w.getframerate(), width=w.getsampwidth(), channels=w.getnchannels())


async def _run(argv: list[str], stdin: bytes) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate(stdin)
    if proc.returncode != 0:
        raise RenderError(f"{argv[0]} failed: {err.decode(errors='replace').strip()[:200]}")
    return out


class EspeakEngine:
    """espeak-ng: renders in milliseconds; robotic, and Whisper does not understand its Russian."""

    name = "espeak-ng"
    voices: ClassVar[dict[str, str]] = {"ru": "ru", "en": "en-us"}

    async def render(self, text: str, voice: str, language: str) -> bytes:
        espeak_voice = voice or self.voices.get(language, "")
        if espeak_voice not in self.voices.values() and espeak_voice not in self.voices:
            raise RenderError(f'unknown espeak-ng voice "{voice}"')
        espeak_voice = self.voices.get(espeak_voice, espeak_voice)
        wav = await _run(["espeak-ng", "-v", espeak_voice, "-s", "165", "--stdout", "--stdin"], text.encode())
        return wav_to_pcm8k(wav)


class FestivalEngine:
    """Festival: msu_ru_nsh_clunits is a unit-selection voice cut from real Russian recordings."""

    name = "festival"
    voices: ClassVar[dict[str, str]] = {"ru": "msu_ru_nsh_clunits", "msu_ru_nsh_clunits": "msu_ru_nsh_clunits"}

    async def render(self, text: str, voice: str, language: str) -> bytes:
        fest_voice = self.voices.get(voice or language)
        if fest_voice is None:
            raise RenderError(f'unknown festival voice "{voice}"')
        wav = await _run(["text2wave", "-eval", f"(voice_{fest_voice})", "-o", "/dev/stdout"], text.encode())
        return wav_to_pcm8k(wav)


ENGINES: dict[str, Engine] = {e.name: e for e in (EspeakEngine(), FestivalEngine())}


def resolve(voice: str, language: str) -> tuple[Engine, str]:
    engine_name, _, voice_name = (voice or f"espeak-ng:{language}").partition(":")
    engine = ENGINES.get(engine_name)
    if engine is None:
        raise RenderError(f'unknown TTS engine "{engine_name}" (known: {", ".join(sorted(ENGINES))})')
    return engine, voice_name
