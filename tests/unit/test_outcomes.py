"""Call outcomes as a contract: SIP codes, retry decisions, spam signals and texts, for every value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from obzvon.outcomes import (
    POLICIES,
    Retry,
    SpamSignal,
    describe,
    outcome_of_sip,
    retry_of,
    spam_signal,
)
from obzvon.v1 import events_pb2 as ev
from obzvon.v1.events_pb2 import CallOutcome, NotDialedReason, OutcomeDetail


def detail(outcome: CallOutcome.ValueType, **kw: object) -> OutcomeDetail:
    return OutcomeDetail(outcome=outcome, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("codes", "outcome"),
    [
        ((486, 600), ev.CALL_OUTCOME_BUSY),
        ((408, 480, 487), ev.CALL_OUTCOME_NO_ANSWER),
        ((404, 410, 484, 604), ev.CALL_OUTCOME_INVALID_NUMBER),
        ((603,), ev.CALL_OUTCOME_DECLINED),
        ((500, 502, 503, 504, 580), ev.CALL_OUTCOME_TRUNK_FAILURE),
        ((400, 401, 403, 407, 415, 488), ev.CALL_OUTCOME_SIP_REJECTED),
        ((606, 699), ev.CALL_OUTCOME_SIP_REJECTED),
        ((300, 302, 380), ev.CALL_OUTCOME_SIP_REJECTED),
    ],
)
def test_each_class_of_sip_final_codes_maps_to_its_outcome(
    codes: tuple[int, ...], outcome: CallOutcome.ValueType
) -> None:
    assert {c: outcome_of_sip(c) for c in codes} == dict.fromkeys(codes, outcome)


@given(st.integers(0, 999))
def test_every_sip_code_has_an_outcome(code: int) -> None:
    assert outcome_of_sip(code) in CallOutcome.values() and outcome_of_sip(code) != ev.CALL_OUTCOME_UNSPECIFIED


def test_every_outcome_has_a_retry_decision_and_a_text() -> None:
    """Fails when a value is added to CallOutcome without deciding what it means."""
    assert set(POLICIES) == set(CallOutcome.values()), (
        "decide retry, spam and abandonment for the new CallOutcome values"
    )
    for value in CallOutcome.values():
        if value == ev.CALL_OUTCOME_NOT_DIALED:
            continue  # decided per NotDialedReason below
        assert isinstance(retry_of(detail(value)), Retry)
        assert describe(detail(value), sip_code=403), CallOutcome.Name(value)


def test_every_not_dialed_reason_has_a_retry_decision_and_a_text() -> None:
    texts = set()
    for value in NotDialedReason.values():
        d = detail(ev.CALL_OUTCOME_NOT_DIALED, not_dialed=value)
        assert isinstance(retry_of(d), Retry)
        texts.add(describe(d))
    assert len(texts) == len(NotDialedReason.values()), "each reason reads differently"


def test_retry_decisions() -> None:
    later = {
        ev.CALL_OUTCOME_BUSY,
        ev.CALL_OUTCOME_NO_ANSWER,
        ev.CALL_OUTCOME_TRUNK_FAILURE,
        ev.CALL_OUTCOME_DIALER_LOST,
    }
    later.add(ev.CALL_OUTCOME_MACHINE)
    # The callee heard the platform say it will call back (tts was behind).
    later.add(ev.CALL_OUTCOME_PROMPT_NOT_READY)
    for value in CallOutcome.values():
        if value != ev.CALL_OUTCOME_NOT_DIALED:
            expected = Retry.LATER if value in later else Retry.FINAL
            assert retry_of(detail(value)) is expected, CallOutcome.Name(value)
    not_running = detail(ev.CALL_OUTCOME_NOT_DIALED, not_dialed=ev.NOT_DIALED_REASON_CAMPAIGN_NOT_RUNNING)
    assert retry_of(not_running) is Retry.REQUEUE
    assert retry_of(detail(ev.CALL_OUTCOME_NOT_DIALED, not_dialed=ev.NOT_DIALED_REASON_EXPIRED)) is Retry.FINAL
    # Only a ringing phone waits the profile's minimum before it rings again.
    rang = {v for v, p in POLICIES.items() if p.callee_rang}
    assert rang == {
        ev.CALL_OUTCOME_BUSY,
        ev.CALL_OUTCOME_NO_ANSWER,
        ev.CALL_OUTCOME_MACHINE,
        ev.CALL_OUTCOME_PROMPT_NOT_READY,
    }


def test_an_outcome_value_this_build_does_not_know_is_final() -> None:
    unknown = OutcomeDetail()
    unknown.outcome = 999  # type: ignore[assignment]  # proto3 enums are open: a newer producer may send one
    assert retry_of(unknown) is Retry.FINAL and spam_signal(unknown.outcome) is SpamSignal.NONE
    assert describe(unknown) == "unknown outcome 999"


def test_spam_signals() -> None:
    signals = {v: spam_signal(v) for v in CallOutcome.values()}
    assert {v for v, s in signals.items() if s is not SpamSignal.NONE} == {
        ev.CALL_OUTCOME_OPTED_OUT,
        ev.CALL_OUTCOME_CALLEE_HUNG_UP,
    }
    assert signals[ev.CALL_OUTCOME_OPTED_OUT] is SpamSignal.OPTED_OUT
    assert signals[ev.CALL_OUTCOME_CALLEE_HUNG_UP] is SpamSignal.HUNG_UP


def test_texts_for_people() -> None:
    assert describe(detail(ev.CALL_OUTCOME_BUSY), sip_code=486) == "busy"
    assert describe(detail(ev.CALL_OUTCOME_INVALID_NUMBER), sip_code=404) == "bad number"
    assert describe(detail(ev.CALL_OUTCOME_SIP_REJECTED), sip_code=403) == "sip 403"
    assert describe(detail(ev.CALL_OUTCOME_BLOCKED, rule="DNC")) == "blocked: DNC"
    assert describe(detail(ev.CALL_OUTCOME_PROGRAM_ERROR, error_type="KeyError")) == "program error: KeyError"
    assert describe(detail(ev.CALL_OUTCOME_CALLEE_HUNG_UP, node="ask")) == "callee hung up"
    assert describe(detail(ev.CALL_OUTCOME_NOT_DIALED, not_dialed=ev.NOT_DIALED_REASON_CAMPAIGN_NOT_RUNNING)) == (
        "campaign paused"
    )
    assert describe(detail(ev.CALL_OUTCOME_NOT_DIALED, not_dialed=ev.NOT_DIALED_REASON_EXPIRED)) == (
        "expired before dialing"
    )
    dispatch = detail(
        ev.CALL_OUTCOME_NOT_DIALED, not_dialed=ev.NOT_DIALED_REASON_DISPATCH_FAILED, error_type="ConnectionError"
    )
    assert describe(dispatch) == "dispatch error (ConnectionError)"
