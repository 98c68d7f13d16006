"""Transcripts the phrase rules do not know, understood by meaning (multilingual-e5-small, offline)."""

from __future__ import annotations

import sys
from pathlib import Path

from obzvon_asr import intents
from obzvon_asr.meaning import load_examples, shared

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import asr_accuracy

# Written for this test: none is in examples.tsv nor in a bench set, and the rules read each as "other".
UNKNOWN_WORDING = [
    ("ru", "Маякните мне ближе к вечеру", intents.CALLBACK),
    ("ru", "Хочу говорить с доктором", intents.OPERATOR),
    ("en", "Quit phoning me", intents.OPT_OUT),
]
# Refusals in new wording: a yes or no needs a clear lead (MeaningOptions.yes_no_margin), so these
# may come out as "other" (the question is asked again), but never as yes.
UNKNOWN_REFUSALS = [("ru", "Вряд ли получится"), ("ru", "Не в этот раз"), ("en", "Not a chance")]
# Replies that ask nothing and answer nothing, Whisper's hallucinations among them.
NOTHING = [
    ("ru", "Спасибо."),
    ("ru", "Продолжение следует..."),
    ("ru", "Алло, алло"),
    ("ru", "Какая сегодня погода?"),
    ("en", "Thank you."),
    ("en", "What's the weather like?"),
]


def test_new_wording_is_understood() -> None:
    for language, text, _ in UNKNOWN_WORDING:
        assert intents.classify(text, language) == intents.OTHER, f"the rules know {text!r}: not a test of meaning"
    got = shared().intents_of([text for _, text, _ in UNKNOWN_WORDING])
    assert got == [intent for _, _, intent in UNKNOWN_WORDING]


def test_new_refusals_are_never_yes() -> None:
    for language, text in UNKNOWN_REFUSALS:
        assert intents.classify(text, language) == intents.OTHER, f"the rules know {text!r}: not a test of meaning"
    got = shared().intents_of([text for _, text in UNKNOWN_REFUSALS])
    assert set(got) <= {intents.NO, intents.OTHER}, got


def test_replies_that_are_no_answer_stay_other() -> None:
    assert shared().intents_of([text for _, text in NOTHING]) == [intents.OTHER] * len(NOTHING)


def test_no_example_is_a_reply_the_benchmark_measures() -> None:
    """examples.tsv must not hold the answers to bench/asr_accuracy.py's sets, or its figures lie."""
    measured = {
        (language, intents.normalize(text))
        for table in (
            asr_accuracy.PHRASES,
            asr_accuracy.NEW_PHRASES,
            asr_accuracy.V3_PHRASES,
            asr_accuracy.V4_PHRASES,
            asr_accuracy.V5_PHRASES,
        )
        for language, replies in table.items()
        for text, _ in replies
    }
    copied = [e.text for e in load_examples() if (e.language, intents.normalize(e.text)) in measured]
    assert not copied, f"examples.tsv holds replies of the accuracy sets: {copied}"
