"""The phrase and number tables read from data files are exactly the ones the engine was measured with.

The tables moved from intents.py to data/intents.yaml (issue 15). Before the Python literals were
deleted, the loaded tables were compared with them field by field (equal, order included); the
digest below is of those literals, so an edit of the data file shows here and has to be measured
(bench/asr_accuracy.py) and the digest renewed on purpose."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from obzvon_asr import intents
from obzvon_asr.tables import TableError, _by_language, load

# sha256 of the old literals' JSON (PHRASES, YES_DESPITE_NEGATION, CUES, UNSURE, CANDIDATES,
# _UNITS, _TEENS, _TENS, in that order and their own order).
MEASURED_WITH = "c9e413841c992cfc21c10387e29638218955ee5afa803e6391b2b6801f77cbbe"


def test_loaded_intent_tables_equal_the_old_ones() -> None:
    tables = {
        "phrases": intents.PHRASES,
        "yes_despite_negation": intents.YES_DESPITE_NEGATION,
        "cues": intents.CUES,
        "unsure": intents.UNSURE,
        "candidates": intents.CANDIDATES,
        "units": intents._UNITS,
        "teens": intents._TEENS,
        "tens": intents._TENS,
    }
    digest = hashlib.sha256(json.dumps(tables, ensure_ascii=False).encode()).hexdigest()
    assert digest == MEASURED_WITH
    # Tuples, as the code that reads them was written for (JSON would not tell a list apart).
    assert all(isinstance(p, tuple) for langs in intents.PHRASES.values() for p in langs.values())
    assert all(isinstance(rule, tuple) for rules in intents.CUES.values() for rule in rules)


def test_a_phrase_yaml_reads_as_a_boolean_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("unsure: {en: [no, maybe]}\n")  # a bare no is YAML's False
    with pytest.raises(TableError, match=r"unsure\.en: a list of strings"):
        _by_language(load(bad)["unsure"], "unsure")
