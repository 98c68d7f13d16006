"""The scheduler reads outcomes by enum: retry or not, the contact's status, the spam signal, abandonment."""

from __future__ import annotations

from obzvon.v1 import campaigns_pb2
from obzvon.v1 import events_pb2 as ev
from obzvon.v1.events_pb2 import CallEvent, OutcomeDetail
from obzvon_scheduler.abandonment import counts_toward_rate
from obzvon_scheduler.outcomes import Retry, Verdict, decide, retry_delay_s
from obzvon_scheduler.spam import OK, OPT_OUT, SHORT, SpamThresholds, classify

T = ev.CallEventType


def final(type_: int, outcome: int, **detail: object) -> CallEvent:
    return CallEvent(type=type_, outcome=OutcomeDetail(outcome=outcome, **detail))  # type: ignore[arg-type]


def test_a_busy_callee_is_tried_again_while_attempts_last() -> None:
    busy = final(T.CALL_EVENT_TYPE_FAILED, ev.CALL_OUTCOME_BUSY)
    busy.sip_code = 486
    assert decide(busy, attempts=1, max_attempts=3) == Verdict(Retry.LATER, "retry: busy")
    assert decide(busy, attempts=3, max_attempts=3) == Verdict(Retry.FINAL, "failed: busy")


def test_statuses_for_people_come_from_the_enum_and_its_detail() -> None:
    blocked = final(T.CALL_EVENT_TYPE_FAILED, ev.CALL_OUTCOME_BLOCKED, rule="DNC")
    assert decide(blocked, 1, 3) == Verdict(Retry.FINAL, "blocked: DNC")
    paused = final(
        T.CALL_EVENT_TYPE_FAILED, ev.CALL_OUTCOME_NOT_DIALED, not_dialed=ev.NOT_DIALED_REASON_CAMPAIGN_NOT_RUNNING
    )
    assert decide(paused, 3, 3) == Verdict(Retry.REQUEUE, "queued: campaign paused")
    assert decide(final(T.CALL_EVENT_TYPE_COMPLETED, ev.CALL_OUTCOME_COMPLETED), 1, 3) == Verdict(
        Retry.FINAL, "completed"
    )
    hung_up = final(T.CALL_EVENT_TYPE_COMPLETED, ev.CALL_OUTCOME_CALLEE_HUNG_UP, node="ask")
    assert decide(hung_up, 1, 3) == Verdict(Retry.FINAL, "completed: callee hung up")
    crash = final(T.CALL_EVENT_TYPE_FAILED, ev.CALL_OUTCOME_PROGRAM_ERROR, error_type="KeyError")
    assert decide(crash, 1, 3) == Verdict(Retry.FINAL, "failed: program error: KeyError")
    lost = final(T.CALL_EVENT_TYPE_FAILED, ev.CALL_OUTCOME_DIALER_LOST)
    assert decide(lost, 1, 2) == Verdict(Retry.LATER, "retry: dialer lost")


def test_the_reason_text_is_never_read() -> None:
    # A reason that reads like a retryable outcome changes nothing: the enum decides.
    event = final(T.CALL_EVENT_TYPE_FAILED, ev.CALL_OUTCOME_INVALID_NUMBER)
    event.reason = "busy"
    assert decide(event, 1, 3) == Verdict(Retry.FINAL, "failed: bad number")
    assert decide(CallEvent(type=T.CALL_EVENT_TYPE_FAILED, reason="busy"), 1, 3) == Verdict(
        Retry.FINAL, "failed: unknown"
    )


def test_only_a_ringing_phone_waits_the_profiles_minimum() -> None:
    campaign = campaigns_pb2.Campaign(compliance_profile="default", retry_delay_seconds=1)
    assert retry_delay_s(campaign, ev.CALL_OUTCOME_BUSY) > 60
    assert retry_delay_s(campaign, ev.CALL_OUTCOME_DIALER_LOST) == 1


def test_spam_classification_by_outcome() -> None:
    t = SpamThresholds(short_hangup_s=5.0)
    assert classify(ev.CALL_OUTCOME_CALLEE_HUNG_UP, 2.0, t) == SHORT
    assert classify(ev.CALL_OUTCOME_CALLEE_HUNG_UP, 12.0, t) == OK
    assert classify(ev.CALL_OUTCOME_OPTED_OUT, 30.0, t) == OPT_OUT
    assert classify(ev.CALL_OUTCOME_COMPLETED, 1.0, t) == OK
    assert classify(ev.CALL_OUTCOME_PROGRAM_ERROR, 1.0, t) == OK


def test_a_machine_answered_call_is_not_counted_toward_the_abandonment_rate() -> None:
    assert not counts_toward_rate(final(T.CALL_EVENT_TYPE_COMPLETED, ev.CALL_OUTCOME_MACHINE))
    assert counts_toward_rate(final(T.CALL_EVENT_TYPE_COMPLETED, ev.CALL_OUTCOME_PROMPT_NOT_READY))
    assert counts_toward_rate(final(T.CALL_EVENT_TYPE_COMPLETED, ev.CALL_OUTCOME_COMPLETED))
