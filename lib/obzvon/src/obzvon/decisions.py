"""What the dialog does with a recognised reply: act on it, confirm it first, or ask again.

One rule for the dialer (dialog.py), `obzvon-asr classify` and bench/asr_accuracy.py, so a recording
tried by hand or measured is judged the way a live call judges it.
"""

from __future__ import annotations

import enum
from typing import Final

from obzvon.v1 import scripts_pb2


class Decision(enum.StrEnum):
    # Acted on at once: a branch is taken, or the callee's opt-out is honoured. A script without a
    # branch for callback or operator still takes its no_match there (dialog.branch_for).
    COMMIT = "commit"
    # A spoken yes or no heard with less confidence than the question asks for (AskNode.confirm_below):
    # the callee is asked once more before anything is recorded.
    CONFIRM = "confirm"
    # Nothing the dialog can act on was heard ("other", silence): the question's no_match or no_input.
    REASK = "reask"


# asr's intents the dialog can act on; "other" (and the dialer's "no_input", "no_match") are not answers.
ANSWERS: Final = frozenset({"yes", "no", "opt_out", "callback", "operator"})


def decide(
    *,
    intent: str,
    decided_by: str,
    confidence: float,
    expect: scripts_pb2.Expect.ValueType,
    confirm_below: float,
    value: str = "",
    keyed: bool = False,
) -> Decision:
    """The decision on one reply.

    intent, decided_by, confidence and value are asr's AsrResult fields (value: spoken digits or the
    chosen choice); expect and confirm_below the question's (AskNode); keyed: the reply came from the
    keypad, which is certain. Only a *scored* yes or no is ever confirmed: its confidence is the
    margin between the answers. A reply whose transcript already was an expected answer, read
    fluently, was right 158 times of 159 on the accuracy sets whatever its transcript probability
    (docs/asr.md). An opt-out is honoured whatever its confidence: a missed one breaks the law.
    """
    if keyed or intent == "opt_out":
        return Decision.COMMIT
    if (
        expect == scripts_pb2.EXPECT_YES_NO
        and intent in ("yes", "no")
        and decided_by == "scoring"
        and confirm_below > 0
        and confidence < confirm_below
    ):
        return Decision.CONFIRM
    if intent in ANSWERS or value:
        return Decision.COMMIT
    return Decision.REASK
