"""How call events add up to a campaign report."""

from __future__ import annotations

from obzvon.v1 import events_pb2
from obzvon_reporting.counting import apply_event, empty_report, to_proto

T = events_pb2.CallEventType


def ev(type_: int, **kw: object) -> events_pb2.CallEvent:
    return events_pb2.CallEvent(tenant_id="t", campaign_id="c", attempt_id="a", type=type_, **kw)  # type: ignore[arg-type]


def test_a_yes_call_and_a_busy_call() -> None:
    report = empty_report()
    for event in (
        ev(T.CALL_EVENT_TYPE_DIALING),
        ev(T.CALL_EVENT_TYPE_ANSWERED),
        ev(T.CALL_EVENT_TYPE_NODE_ENTERED, tag="confirmed"),
        ev(T.CALL_EVENT_TYPE_REPLY, intent="yes"),
        ev(T.CALL_EVENT_TYPE_COMPLETED, reason="completed"),
        ev(T.CALL_EVENT_TYPE_DIALING),
        ev(T.CALL_EVENT_TYPE_FAILED, reason="busy", sip_code=486),
    ):
        report = apply_event(report, event)
    proto = to_proto("campaigns/c", report)
    assert (proto.attempts, proto.answered, proto.yes, proto.completed, proto.failed) == (2, 1, 1, 1, 1)
    assert dict(proto.outcomes) == {"completed": 1, "busy": 1}
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


def test_redelivered_event_counts_once_within_the_window() -> None:
    from obzvon_reporting.counting import count_once, report_view

    first = ev(T.CALL_EVENT_TYPE_ANSWERED, event_id="e1")
    report = count_once(empty_report(), first, window=2)
    assert report is not None and report["answered"] == 1
    assert count_once(report, first, window=2) is None
    for i in (2, 3):
        report = count_once(report, ev(T.CALL_EVENT_TYPE_ANSWERED, event_id=f"e{i}"), window=2)
        assert report is not None
    assert report["answered"] == 3
    assert "recent_event_ids" not in report_view(report)
