"""The shared decision rule (obzvon.decisions) and what `obzvon-asr classify` prints from it. Pure logic."""

from __future__ import annotations

import pytest
from obzvon.decisions import Decision, decide
from obzvon.v1 import scripts_pb2
from obzvon_asr.classify import report
from obzvon_asr.engine import Recognition
from obzvon_asr.meaning import MeaningOptions
from obzvon_asr.meaning import decide as meaning_decide

YES_NO = scripts_pb2.EXPECT_YES_NO


@pytest.mark.parametrize(
    ("intent", "decided_by", "confidence", "confirm_below", "want"),
    [
        ("yes", "scoring", 0.5, 0.6, Decision.CONFIRM),  # a scored yes below the question's bar
        ("no", "scoring", 0.59, 0.6, Decision.CONFIRM),
        ("yes", "scoring", 0.6, 0.6, Decision.COMMIT),  # at the bar: sure enough
        ("yes", "scoring", 0.1, 0.0, Decision.COMMIT),  # the script confirms nothing
        ("yes", "transcript", 0.1, 0.6, Decision.COMMIT),  # read fluently as an expected answer
        ("opt_out", "scoring", 0.05, 0.9, Decision.COMMIT),  # honoured whatever its confidence
        ("callback", "scoring", 0.3, 0.6, Decision.COMMIT),
        ("operator", "transcript", 0.3, 0.6, Decision.COMMIT),
        ("other", "scoring", 0.99, 0.6, Decision.REASK),
        ("other", "transcript", 0.99, 0.0, Decision.REASK),
        ("no_input", "", 0.0, 0.0, Decision.REASK),
    ],
)
def test_yes_no_decisions(
    intent: str, decided_by: str, confidence: float, confirm_below: float, want: Decision
) -> None:
    got = decide(
        intent=intent, decided_by=decided_by, confidence=confidence, expect=YES_NO, confirm_below=confirm_below
    )
    assert got is want


def test_keys_digits_and_choices() -> None:
    common = {"decided_by": "scoring", "confidence": 0.2, "confirm_below": 0.6}
    assert decide(intent="yes", keyed=True, expect=YES_NO, **common) is Decision.COMMIT  # type: ignore[arg-type]
    # A choice or a code is the value, not an intent; none is confirmed (confirm_below is yes/no only).
    choice = decide(intent="other", value="утром", expect=scripts_pb2.EXPECT_CHOICE, **common)  # type: ignore[arg-type]
    assert choice is Decision.COMMIT
    code = decide(intent="other", value="1234", expect=scripts_pb2.EXPECT_DIGITS, **common)  # type: ignore[arg-type]
    assert code is Decision.COMMIT
    nothing = decide(intent="other", value="", expect=scripts_pb2.EXPECT_DIGITS, **common)  # type: ignore[arg-type]
    assert nothing is Decision.REASK


def _recognition(intent: str, confidence: float, decided_by: str, value: str = "") -> Recognition:
    return Recognition("да", intent, confidence, "ru", 12.0, value, decided_by=decided_by)


def test_classify_prints_the_dialogs_decision() -> None:
    unsure = _recognition("yes", 0.55, "scoring")
    assert report(unsure, "yes_no", 0.6)["decision"] == "confirm"
    assert report(unsure, "yes_no", 0.0)["decision"] == "commit"  # the demo script confirms nothing
    assert report(_recognition("other", 0.9, "scoring"), "yes_no", 0.6)["decision"] == "reask"
    out = report(_recognition("other", 0.8, "digits", "0451"), "digits", 0.0)
    assert out["decision"] == "commit" and out["value"] == "0451"
    assert set(report(unsure, "yes_no", 0.6)) >= {"text", "intent", "confidence", "decision", "decided_by", "ms"}


def test_a_likely_opt_out_is_read_as_one_even_when_another_intent_is_likelier() -> None:
    """Recall over precision: a missed opt-out breaks the law, a false one costs a contact. A
    garbled "I don't want any more of these claws." reads as "no" with opt_out at 0.40."""
    options = MeaningOptions(yes_no_floor=0.6, opt_out_floor=0.2)
    assert meaning_decide({"no": 0.6, "opt_out": 0.4}, "other", options) == "opt_out"
    assert meaning_decide({"callback": 0.75, "opt_out": 0.2}, "callback", options) == "opt_out"
    assert meaning_decide({"no": 0.85, "opt_out": 0.15}, "other", options) == "no"
    assert MeaningOptions().opt_out_floor == pytest.approx(0.2)
