"""Phrase, number and reply tables kept as data (YAML), read by one loader.

Tables are words, not code: kept in data files they can be reviewed and extended by people who do
not read Python (a new phrasing is a line), and a test pins them to what the engine was measured
with. intents.py takes its tables from data/intents.yaml; bench/asr_accuracy.py its reply sets
from bench/data/asr_replies.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

INTENTS_FILE = "intents.yaml"


class TableError(ValueError):
    """A data file that is not the shape its reader expects."""


def load(source: str | Path) -> Any:
    """A YAML table: a file name under obzvon_asr/data/, or a path."""
    if isinstance(source, Path):
        text = source.read_text(encoding="utf-8")
    else:
        text = resources.files("obzvon_asr").joinpath("data", source).read_text(encoding="utf-8")
    return yaml.safe_load(text)


Phrases = dict[str, tuple[str, ...]]  # language -> phrases
Cue = tuple[tuple[str, ...], tuple[str, ...]]  # (first words, second words)


@dataclass(frozen=True)
class IntentTables:
    phrases: dict[str, Phrases]  # intent -> language -> phrases
    yes_despite_negation: tuple[str, ...]
    cues: dict[str, tuple[Cue, ...]]  # intent -> rules
    unsure: Phrases
    candidates: dict[str, Phrases]  # language -> intent -> phrasings
    units: dict[str, int]  # spoken number word -> value, every language
    teens: dict[str, int]
    tens: dict[str, int]


@cache
def intent_tables() -> IntentTables:
    raw = load(INTENTS_FILE)
    words = {name: _strings(v, f"cue_words.{name}") for name, v in raw["cue_words"].items()}
    cues = {
        intent: tuple((words[first], words[second]) for first, second in rules) for intent, rules in raw["cues"].items()
    }

    def numbers(kind: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for table in raw["numbers"][kind].values():
            out.update({str(word): int(value) for word, value in table.items()})
        return out

    return IntentTables(
        phrases={intent: _by_language(v, f"phrases.{intent}") for intent, v in raw["phrases"].items()},
        yes_despite_negation=_strings(raw["yes_despite_negation"], "yes_despite_negation"),
        cues=cues,
        unsure=_by_language(raw["unsure"], "unsure"),
        candidates={lang: _by_language(v, f"candidates.{lang}") for lang, v in raw["candidates"].items()},
        units=numbers("units"),
        teens=numbers("teens"),
        tens=numbers("tens"),
    )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    # YAML reads a bare no/yes/on as a boolean: every phrase must come back a string.
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TableError(f"{where}: a list of strings expected")
    return tuple(value)


def _by_language(value: Any, where: str) -> Phrases:
    if not isinstance(value, dict):
        raise TableError(f"{where}: a mapping expected")
    return {str(key): _strings(v, f"{where}.{key}") for key, v in value.items()}
