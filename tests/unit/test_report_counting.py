"""How call events add up to a campaign report."""

from __future__ import annotations

from obzvon.v1 import events_pb2
from obzvon.v1.events_pb2 import CALL_OUTCOME_BUSY, CALL_OUTCOME_COMPLETED, OutcomeDetail
from obzvon_reporting.counting import apply_event, empty_report, to_proto

T = events_pb2.CallEventType


def ev(type_: int, **kw: object) -> events_pb2.CallEvent:
    fields: dict[str, object] = {"tenant_id": "t", "campaign_id": "c", "attempt_id": "a", "type": type_, **kw}
    return events_pb2.CallEvent(**fields)  # type: ignore[arg-type]


def test_a_yes_call_and_a_busy_call() -> None:
    report = empty_report()
    for event in (
        ev(T.CALL_EVENT_TYPE_DIALING),
        ev(T.CALL_EVENT_TYPE_ANSWERED),
        ev(T.CALL_EVENT_TYPE_NODE_ENTERED, tag="confirmed"),
        ev(T.CALL_EVENT_TYPE_REPLY, intent="yes"),
        ev(T.CALL_EVENT_TYPE_COMPLETED, reason="completed", outcome=OutcomeDetail(outcome=CALL_OUTCOME_COMPLETED)),
        ev(T.CALL_EVENT_TYPE_DIALING),
        ev(T.CALL_EVENT_TYPE_FAILED, reason="busy", sip_code=486, outcome=OutcomeDetail(outcome=CALL_OUTCOME_BUSY)),
    ):
        report = apply_event(report, event)
    proto = to_proto("campaigns/c", report)
    assert (proto.attempts, proto.answered, proto.yes, proto.completed, proto.failed) == (2, 1, 1, 1, 1)
    assert dict(proto.outcomes) == {"completed": 1, "busy": 1}
    assert dict(proto.outcome_counts) == {"CALL_OUTCOME_COMPLETED": 1, "CALL_OUTCOME_BUSY": 1}
    assert dict(proto.tags) == {"confirmed": 1}


def test_no_input_and_callback_count_as_other() -> None:
    report = apply_event(
        apply_event(empty_report(), ev(T.CALL_EVENT_TYPE_REPLY, intent="no_input")),
        ev(T.CALL_EVENT_TYPE_REPLY, intent="callback"),
    )
    assert (report["yes"], report["no"], report["other"]) == (0, 0, 2)


def test_apply_does_not_mutate_its_input() -> None:
    before = empty_report()
    apply_event(before, ev(T.CALL_EVENT_TYPE_NODE_ENTERED, tag="x"))
    assert before == empty_report()


def test_redelivered_event_counts_once() -> None:
    from obzvon_reporting.counting import AttemptProgress, count_exactly

    first = ev(T.CALL_EVENT_TYPE_ANSWERED, event_id="e1", sequence=1)
    counting = count_exactly(empty_report(), AttemptProgress(), first)
    assert counting.counted and counting.report["answered"] == 1
    again = count_exactly(counting.report, counting.progress, first)
    assert not again.counted and again.report["answered"] == 1


def test_outcomes_are_counted_by_enum_and_never_by_the_reason_text() -> None:
    from obzvon.v1.events_pb2 import CALL_OUTCOME_BLOCKED, CALL_OUTCOME_SIP_REJECTED

    report = empty_report()
    for event in (
        ev(
            T.CALL_EVENT_TYPE_FAILED,
            reason="whatever a producer wrote",
            sip_code=403,
            outcome=OutcomeDetail(outcome=CALL_OUTCOME_SIP_REJECTED),
        ),
        ev(
            T.CALL_EVENT_TYPE_BLOCKED,
            reason="blocked: DNC (global list)",
            outcome=OutcomeDetail(outcome=CALL_OUTCOME_BLOCKED, rule="DNC"),
        ),
        ev(
            T.CALL_EVENT_TYPE_FAILED,
            reason="blocked: frequency cap",
            outcome=OutcomeDetail(outcome=CALL_OUTCOME_BLOCKED, rule="frequency cap"),
        ),
        ev(
            T.CALL_EVENT_TYPE_BLOCKED,
            reason="blocked: DNC",
            outcome=OutcomeDetail(outcome=CALL_OUTCOME_BLOCKED, rule="DNC"),
        ),
    ):
        report = apply_event(report, event)
    proto = to_proto("campaigns/c", report)
    assert dict(proto.outcomes) == {"sip 403": 1, "blocked: DNC": 2, "blocked: frequency cap": 1}
    assert dict(proto.outcome_counts) == {"CALL_OUTCOME_SIP_REJECTED": 1, "CALL_OUTCOME_BLOCKED": 3}
    assert dict(proto.blocked_by_rule) == {"DNC": 2, "frequency cap": 1}
    assert (proto.blocked, proto.failed) == (2, 2)


def test_program_errors_are_counted_and_listed_apart() -> None:
    from obzvon.v1.events_pb2 import CALL_OUTCOME_PROGRAM_ERROR
    from obzvon_reporting.counting import PROGRAM_ERRORS_LISTED

    report = empty_report()
    crash = OutcomeDetail(outcome=CALL_OUTCOME_PROGRAM_ERROR, error_type="KeyError", node="ask")
    report = apply_event(report, ev(T.CALL_EVENT_TYPE_COMPLETED, attempt_id="a1", contact_id="k1", outcome=crash))
    lost = OutcomeDetail(outcome=CALL_OUTCOME_PROGRAM_ERROR, error_type="TimeoutError")
    for i in range(PROGRAM_ERRORS_LISTED + 1):
        report = apply_event(report, ev(T.CALL_EVENT_TYPE_FAILED, attempt_id=f"b{i}", outcome=lost))
    proto = to_proto("campaigns/c", report)
    assert proto.program_errors == PROGRAM_ERRORS_LISTED + 2
    assert dict(proto.program_errors_by_type) == {"KeyError": 1, "TimeoutError": PROGRAM_ERRORS_LISTED + 1}
    assert dict(proto.outcome_counts) == {"CALL_OUTCOME_PROGRAM_ERROR": PROGRAM_ERRORS_LISTED + 2}
    # The latest ones are listed, newest last; the count keeps them all.
    listed = list(proto.recent_program_errors)
    assert len(listed) == PROGRAM_ERRORS_LISTED and listed[-1].attempt_id == f"b{PROGRAM_ERRORS_LISTED}"
    first = apply_event(
        empty_report(), ev(T.CALL_EVENT_TYPE_COMPLETED, attempt_id="a1", contact_id="k1", outcome=crash)
    )
    (only,) = to_proto("campaigns/c", first).recent_program_errors
    assert (only.attempt_id, only.contact_id, only.error_type, only.node) == ("a1", "k1", "KeyError", "ask")


def test_a_dispatch_that_kept_failing_is_a_platform_error_too() -> None:
    from obzvon.v1.events_pb2 import CALL_OUTCOME_NOT_DIALED, NOT_DIALED_REASON_DISPATCH_FAILED

    failure = OutcomeDetail(
        outcome=CALL_OUTCOME_NOT_DIALED, not_dialed=NOT_DIALED_REASON_DISPATCH_FAILED, error_type="ConnectionError"
    )
    proto = to_proto("campaigns/c", apply_event(empty_report(), ev(T.CALL_EVENT_TYPE_FAILED, outcome=failure)))
    assert (proto.failed, proto.program_errors, dict(proto.program_errors_by_type)) == (1, 1, {"ConnectionError": 1})
    assert dict(proto.outcomes) == {"dispatch error (ConnectionError)": 1}
    assert dict(proto.outcome_counts) == {"CALL_OUTCOME_NOT_DIALED": 1}
