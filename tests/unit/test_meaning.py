"""The nearest-examples intent rule (obzvon_asr.meaning), with a hand-made encoder: no model."""

from __future__ import annotations

import numpy as np
from obzvon_asr import intents
from obzvon_asr.meaning import Example, Meaning, MeaningOptions, decide, load_examples

# Unit vectors by hand: "yes"-ish along x, "no"-ish along y, "other" along z.
VECTORS = {
    "ok": [1.0, 0.0, 0.0],
    "sure": [0.96, 0.28, 0.0],
    "nope": [0.0, 1.0, 0.0],
    "never": [0.28, 0.96, 0.0],
    "hello": [0.0, 0.0, 1.0],
    "yes-like": [0.99, 0.141, 0.0],
    "between": [0.707, 0.707, 0.0],
    "far": [0.0, 0.6, 0.8],
}


class HandEncoder:
    def query(self, texts: list[str]) -> np.ndarray:
        rows = np.array([VECTORS[t] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


EXAMPLES = [
    Example("en", "yes", "ok"),
    Example("en", "yes", "sure"),
    Example("en", "no", "nope"),
    Example("en", "no", "never"),
    Example("en", "other", "hello"),
]


def test_nearest_examples_decide_the_intent() -> None:
    meaning = Meaning(
        MeaningOptions(k=2, min_similarity=0.9, min_margin=0.05, yes_no_margin=0.05), HandEncoder(), EXAMPLES
    )
    assert meaning.intents_of(["yes-like", "never"]) == ["yes", "no"]
    scores = meaning.scores(["yes-like"])[0]
    # The mean of the two nearest "yes" examples, not the single nearest.
    assert abs(scores["yes"] - (0.99 + 0.99 * 0.96 + 0.141 * 0.28) / 2) < 1e-3


def test_no_clear_winner_or_too_far_is_other() -> None:
    meaning = Meaning(MeaningOptions(k=1, min_similarity=0.9, min_margin=0.05), HandEncoder(), EXAMPLES)
    # Equally near yes and no: no margin.
    assert meaning.intents_of(["between"]) == [intents.OTHER]
    # Nearest to an example of nothing in particular, and not near any intent.
    assert meaning.intents_of(["far"]) == [intents.OTHER]


def test_decide_thresholds() -> None:
    options = MeaningOptions(k=1, min_similarity=0.87, min_margin=0.01, yes_no_margin=0.04)
    assert decide({"yes": 0.95, "no": 0.90}, options) == "yes"
    # A request needs the plain margin; a yes or no a larger one.
    assert decide({"callback": 0.95, "other": 0.93}, options) == "callback"
    assert decide({"no": 0.95, "other": 0.93}, options) == intents.OTHER
    assert decide({"yes": 0.86, "no": 0.70}, options) == intents.OTHER  # below the floor
    assert decide({"yes": 0.95, "no": 0.945}, options) == intents.OTHER  # within the margin
    assert decide({"other": 0.95, "no": 0.80}, options) == intents.OTHER
    assert decide({}, options) == intents.OTHER


def test_example_bank_covers_every_intent_in_both_languages() -> None:
    examples = load_examples()
    for language in ("ru", "en"):
        for intent in intents.INTENTS:
            mine = [e for e in examples if e.language == language and e.intent == intent]
            assert len(mine) >= 10, (language, intent, len(mine))
    texts = [(e.language, intents.normalize(e.text)) for e in examples]
    assert len(texts) == len(set(texts)), "an example is written twice"
