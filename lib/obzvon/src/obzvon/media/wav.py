"""WAV files <-> PCM16 mono 8 kHz, the one format the media path uses internally."""

from __future__ import annotations

import wave
from pathlib import Path

from obzvon.media._audioop import audioop
from obzvon.media.g711 import SAMPLE_RATE


def to_pcm16_8k(frames: bytes, *, rate: int, width: int, channels: int) -> bytes:
    if width == 1:
        # 8-bit WAV is unsigned; audioop works on signed samples.
        frames = audioop.bias(frames, 1, -128)
    if width != 2:
        frames = audioop.lin2lin(frames, width, 2)
    if channels == 2:
        frames = audioop.tomono(frames, 2, 0.5, 0.5)
    elif channels != 1:
        raise ValueError(f"unsupported channel count {channels}")
    if rate != SAMPLE_RATE:
        frames, _ = audioop.ratecv(frames, 2, 1, rate, SAMPLE_RATE, None)
    return frames


def read_wav_8k(path: Path | str) -> bytes:
    """PCM16 LE mono 8 kHz samples of a PCM WAV of any common rate, width and channel count."""
    with wave.open(str(path), "rb") as w:
        frames = w.readframes(w.getnframes())
        return to_pcm16_8k(frames, rate=w.getframerate(), width=w.getsampwidth(), channels=w.getnchannels())


def write_wav_8k(path: Path | str, pcm16: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm16)
