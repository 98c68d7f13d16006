from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import asr_voices  # noqa: E402

ROOT = HERE.parents[1]
AUDIO_CACHE = ROOT / ".local" / "asr-set" / "test-audio"


@pytest.fixture(scope="session")
def voices() -> dict[str, asr_voices.Voice]:
    by_name = {v.name: v for v in asr_voices.available_voices()}
    if "festival-ru-nsh" not in by_name:
        pytest.skip("Festival with festvox-ru is not installed (apt-get install festival festvox-ru sox)")
    return by_name


def render(voice: asr_voices.Voice, text: str, **kw: object) -> bytes:
    return asr_voices.cached_telephone(AUDIO_CACHE, voice, text, **kw)
