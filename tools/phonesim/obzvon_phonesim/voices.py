"""Recorded replies for simulated callees, rendered offline once and cached.

Festival's Russian unit-selection voice is used because Whisper understands it (9 of 10
short replies after a G.711 round trip); espeak-ng's Russian it does not understand at all,
so espeak-ng is only the fallback when Festival is missing (speech-notes.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from obzvon.media.wav import read_wav_8k

log = logging.getLogger(__name__)

FESTIVAL_VOICE = "voice_msu_ru_nsh_clunits"


def default_cache_dir() -> Path:
    env = os.environ.get("OBZVON_VOICE_CACHE")
    if env:
        return Path(env)
    # tools/phonesim/obzvon_phonesim/voices.py -> repo root; .local/ is git-ignored there.
    repo = Path(__file__).resolve().parents[3]
    if (repo / ".git").exists() or (repo / "pyproject.toml").exists():
        return repo / ".local" / "voices"
    return Path.home() / ".cache" / "obzvon" / "voices"


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace')[-300:]}")


async def render(text: str, *, lang: str = "ru", cache_dir: Path | None = None) -> bytes:
    """PCM16 mono 8 kHz of `text` spoken by Festival (ru) or espeak-ng, from cache when possible."""
    cache = cache_dir or default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    engine = "festival" if lang == "ru" and shutil.which("text2wave") else "espeak-ng"
    key = hashlib.sha256(f"{engine}|{lang}|{text}".encode()).hexdigest()[:20]
    path = cache / f"{engine}-{key}.wav"
    if not path.exists():
        with tempfile.TemporaryDirectory(prefix="phonesim-voice-") as tmp:
            out = Path(tmp) / "out.wav"
            if engine == "festival":
                src = Path(tmp) / "text.txt"
                src.write_text(text, encoding="utf-8")
                await _run("text2wave", "-eval", f"({FESTIVAL_VOICE})", "-o", str(out), str(src))
            else:
                if not shutil.which("espeak-ng"):
                    raise RuntimeError("neither text2wave (festival) nor espeak-ng is installed")
                await _run("espeak-ng", "-v", "ru" if lang == "ru" else "en", "-w", str(out), text)
            # Rename into place so concurrent simulators never read a half-written file.
            tmp_target = path.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(out, tmp_target)
            tmp_target.replace(path)
        log.info("rendered %r with %s -> %s", text, engine, path)
    return read_wav_8k(path)
