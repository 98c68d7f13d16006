"""Transcripts read for their meaning by the real intent head (multilingual-e5-small, offline)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from obzvon_asr import intents
from obzvon_asr.meaning import examples_digest, load_examples, shared, shipped_head

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import asr_accuracy  # noqa: E402

# Written for this test: none is in examples.tsv nor in a bench set, and the rules read each as "other".
UNKNOWN_WORDING = [
    ("ru", "Маякните мне ближе к вечеру", intents.CALLBACK),
    ("ru", "Хочу говорить с доктором", intents.OPERATOR),
    ("en", "Quit phoning me", intents.OPT_OUT),
]
# Refusals in new wording: never read as yes.
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


def read(pairs: list[tuple[str, str]]) -> list[str]:
    return [shared().read([text], language)[0] for language, text in pairs]


def test_new_wording_is_understood() -> None:
    for language, text, _ in UNKNOWN_WORDING:
        assert intents.classify(text, language) == intents.OTHER, f"the rules know {text!r}: not a test of meaning"
    assert read([(lang, text) for lang, text, _ in UNKNOWN_WORDING]) == [i for _, _, i in UNKNOWN_WORDING]


def test_new_refusals_are_never_yes() -> None:
    got = read(UNKNOWN_REFUSALS)
    assert intents.YES not in got, got


def test_replies_that_are_no_answer_stay_other() -> None:
    assert read(NOTHING) == [intents.OTHER] * len(NOTHING)


def test_the_rules_misreading_is_overruled_but_never_an_opt_out() -> None:
    # The rules read "отказываюсь" as a refusal; the reply refuses the calls themselves.
    text = "Я отказываюсь от ваших рассылок и звонков."
    assert intents.classify(text, "ru") == intents.NO
    assert read([("ru", text)]) == [intents.OPT_OUT]
    # An opt-out the rules find stands whatever the head thinks.
    assert read([("ru", "Да, только не звоните мне больше.")]) == [intents.OPT_OUT]


def test_the_shipped_head_was_trained_on_the_current_examples() -> None:
    assert shipped_head().trained_on == examples_digest(), (
        "examples.tsv changed since the intent head was trained: run tools/train_intent_head.py"
    )


def test_training_reproduces_the_shipped_head() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "train_intent_head.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["shipped_is_current"] is True
    assert report["agreement_with_shipped"] >= 0.99, report
    assert report["training_accuracy"] >= 0.9, report


def test_no_example_is_a_reply_the_benchmark_measures() -> None:
    """examples.tsv must not hold the answers to bench/asr_accuracy.py's sets, or its figures lie."""
    tables = [v for k, v in vars(asr_accuracy).items() if k.endswith("PHRASES") and isinstance(v, dict)]
    assert len(tables) >= 7  # PHRASES, NEW_PHRASES, V3_PHRASES.. (every set, the unrun ones included)
    measured = {
        (language, intents.normalize(text))
        for table in tables
        for language, replies in table.items()
        for text, _ in replies
    }
    copied = [e.text for e in load_examples() if (e.language, intents.normalize(e.text)) in measured]
    assert not copied, f"examples.tsv holds replies of the accuracy sets: {copied}"
