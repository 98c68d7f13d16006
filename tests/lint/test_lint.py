"""The style gates of `make lint`, run by the suite so CI (which runs `make test`) enforces them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def lint_commands() -> list[list[str]]:
    """The commands of the Makefile's lint target, so the two never drift apart."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    body = re.search(r"^lint:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert body, "Makefile has no lint target"
    commands = [line.strip().split() for line in body.group(1).splitlines()]
    assert {c[0] for c in commands} == {".venv/bin/ruff", ".venv/bin/mypy"}, commands
    return [[str(BIN / Path(c[0]).name), *c[1:]] for c in commands]


def test_make_lint_passes() -> None:
    for command in lint_commands():
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"{' '.join(command)}:\n{out.stdout[-4000:]}{out.stderr[-2000:]}"
