"""The spam-risk rule: thresholds over a sliding window of answered calls."""

from __future__ import annotations

from obzvon.v1.events_pb2 import CALL_OUTCOME_CALLEE_HUNG_UP, CALL_OUTCOME_COMPLETED, CALL_OUTCOME_OPTED_OUT
from obzvon_scheduler.spam import OK, OPT_OUT, SHORT, Scope, SpamThresholds, assess, classify

T = SpamThresholds(window=10, min_answered=5, short_hangup_s=5.0, max_short_share=0.3, max_opt_out_share=0.1)


def test_classification() -> None:
    assert classify(CALL_OUTCOME_CALLEE_HUNG_UP, 2.0, T) == SHORT
    assert classify(CALL_OUTCOME_CALLEE_HUNG_UP, 12.0, T) == OK
    assert classify(CALL_OUTCOME_OPTED_OUT, 30.0, T) == OPT_OUT
    assert classify(CALL_OUTCOME_COMPLETED, 1.0, T) == OK


def test_too_few_calls_say_nothing() -> None:
    assert assess([SHORT] * 4, T) is None


def test_short_hangups_over_the_share_pause() -> None:
    reason = assess([SHORT] * 4 + [OK] * 6, T)
    assert reason is not None and "40%" in reason and "hung up within 5 s" in reason
    assert assess([SHORT] * 3 + [OK] * 7, T) is None  # exactly 30 % is within the limit


def test_opt_outs_over_the_share_pause() -> None:
    reason = assess([OPT_OUT] * 2 + [OK] * 8, T)
    assert reason is not None and "opted out" in reason


def test_only_the_window_counts() -> None:
    # newest first: ten good calls, then old short hangups outside the window
    assert assess([OK] * 10 + [SHORT] * 10, T) is None


def test_the_tenant_scope_names_itself() -> None:
    reason = assess([SHORT] * 4 + [OK] * 6, T, Scope.TENANT)
    assert reason is not None and reason.startswith("spam risk across the tenant's campaigns: 40%")
