"""How obzvon_asr.meaning combines its intent head with the phrase rules, with a hand-made encoder
and head: no model."""

from __future__ import annotations

import numpy as np
from obzvon_asr import intents
from obzvon_asr.meaning import Head, Meaning, MeaningOptions, decide, load_examples

# One dimension per intent: a text's embedding says how strongly it "means" each one.
CLASSES = intents.INTENTS
VECTORS = {
    "sure thing": {"yes": 4.0},
    "kinda yes": {"yes": 1.0, "other": 0.8},  # a yes the head is unsure of
    "not this time": {"no": 4.0},
    "ring me tonight": {"callback": 4.0},
    "huh": {"other": 4.0},
    "no, stop calling": {"no": 6.0},  # the head reads it as a plain no; the rules find the opt-out
    "5 5 1": {"yes": 6.0},  # no words: never read for meaning
}


class HandEncoder:
    def query(self, texts: list[str]) -> np.ndarray:
        rows = [[VECTORS[t].get(c, 0.0) for c in CLASSES] for t in texts]
        return np.array(rows, dtype=np.float32)


HEAD = Head(CLASSES, np.eye(len(CLASSES), dtype=np.float32), np.zeros(len(CLASSES), dtype=np.float32), "hand")


def meaning() -> Meaning:
    return Meaning(MeaningOptions(yes_no_floor=0.6), HandEncoder(), HEAD)


def test_the_head_reads_each_transcript() -> None:
    texts = ["sure thing", "not this time", "ring me tonight", "huh"]
    assert meaning().read(texts, "en") == ["yes", "no", "callback", "other"]


def test_an_opt_out_the_rules_find_always_stands() -> None:
    assert intents.classify("no, stop calling", "en") == intents.OPT_OUT
    assert meaning().read(["no, stop calling"], "en") == [intents.OPT_OUT]


def test_an_unsure_yes_falls_back_to_the_rules() -> None:
    probs = meaning().probabilities(["kinda yes"])[0]
    assert max(probs, key=lambda k: probs[k]) == "yes" and probs["yes"] < 0.6
    assert meaning().read(["kinda yes"], "en") == [intents.classify("kinda yes", "en")]


def test_a_reply_without_words_is_left_to_the_rules() -> None:
    assert meaning().read(["5 5 1"], "en") == [intents.classify("5 5 1", "en")]


def test_decide() -> None:
    options = MeaningOptions(yes_no_floor=0.6)
    assert decide({"yes": 0.7, "no": 0.3}, "other", options) == "yes"
    assert decide({"yes": 0.5, "other": 0.4}, "no", options) == "no"  # unsure yes: the rules' no
    assert decide({"callback": 0.5, "yes": 0.4}, "yes", options) == "callback"  # a request needs no floor
    assert decide({"no": 0.9}, "opt_out", options) == "opt_out"
    assert decide({}, "yes", options) == "yes"


def test_head_round_trips_through_its_file_format() -> None:
    back = Head.load(HEAD.save())
    assert back.classes == HEAD.classes and back.trained_on == "hand"
    x = HandEncoder().query(list(VECTORS))
    assert np.allclose(back.probabilities(x), HEAD.probabilities(x))
    assert np.allclose(HEAD.probabilities(x).sum(axis=1), 1.0)


def test_example_bank_covers_every_intent_in_both_languages() -> None:
    examples = load_examples()
    for language in ("ru", "en"):
        for intent in intents.INTENTS:
            mine = [e for e in examples if e.language == language and e.intent == intent]
            assert len(mine) >= 50, (language, intent, len(mine))
    texts = [(e.language, intents.normalize(e.text)) for e in examples]
    assert len(texts) == len(set(texts)), "an example is written twice"
