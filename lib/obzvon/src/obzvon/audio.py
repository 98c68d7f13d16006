"""Prompt audio in Redis: content-addressed keys and the stored format, shared by tts and dialer.

Each prompt is stored twice under one audio key (docs/tts.md): PCM16 little-endian mono 8 kHz at
``keys.tts_audio(k)``, and the same audio as G.711 µ-law (PCMU), one byte a sample, at ``pcmu_key(k)``.
"""

from __future__ import annotations

import hashlib

from obzvon import keys

# Bump when an engine's output for the same text changes, so cached audio is not reused across it.
AUDIO_FORMAT_VERSION = "1"
SAMPLE_RATE = 8000
PCMU_SUFFIX = ":pcmu"


def audio_key(text: str, voice: str, language: str) -> str:
    """Content hash of what is rendered: the same prompt in the same voice is rendered once."""
    material = "\x1f".join((AUDIO_FORMAT_VERSION, voice, language, text))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def pcmu_key(audio_key: str) -> str:
    """Redis key of the prompt's G.711 µ-law form, ready to go out as PCMU RTP payloads."""
    return keys.tts_audio(audio_key) + PCMU_SUFFIX
