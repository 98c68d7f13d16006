from __future__ import annotations

import sys
from pathlib import Path

import pytest

# asr_voices sits beside the tests; bench/asr_*.py import it the same way.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import asr_voices


@pytest.fixture(scope="session")
def voices() -> dict[str, asr_voices.Voice]:
    by_name = {v.name: v for v in asr_voices.available_voices()}
    if "festival-ru-nsh" not in by_name:
        pytest.fail("Festival with festvox-ru is not installed: run deploy/local/setup.sh (festival festvox-ru sox)")
    return by_name
