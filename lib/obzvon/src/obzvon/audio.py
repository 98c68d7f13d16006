"""Prompt audio in Redis: content-addressed keys and the stored format, shared by tts and dialer."""

from __future__ import annotations

import hashlib

# Bump when an engine's output for the same text changes, so cached audio is not reused across it.
AUDIO_FORMAT_VERSION = "1"
SAMPLE_RATE = 8000


def audio_key(text: str, voice: str, language: str) -> str:
    """Content hash of what is rendered: the same prompt in the same voice is rendered once."""
    material = "\x1f".join((AUDIO_FORMAT_VERSION, voice, language, text))
    return hashlib.sha256(material.encode()).hexdigest()[:32]
