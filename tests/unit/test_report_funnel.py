"""The funnel per script node, durations, ASR confidence and exact deduplication of call events."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from obzvon.v1 import events_pb2
from obzvon.v1.events_pb2 import CALL_OUTCOME_CALLEE_HUNG_UP, CALL_OUTCOME_COMPLETED, OutcomeDetail
from obzvon_reporting.counting import AttemptProgress, count_exactly, empty_report, progress_key, to_proto

T = events_pb2.CallEventType


class Attempt:
    """The events of one attempt as the dialer numbers them."""

    def __init__(self, attempt_id: str) -> None:
        self.attempt_id = attempt_id
        self.sequence = 0

    def ev(self, type_: int, at_ms: int = 0, **kw: Any) -> events_pb2.CallEvent:
        self.sequence += 1
        at = Timestamp()
        at.FromMilliseconds(1_700_000_000_000 + at_ms)
        return events_pb2.CallEvent(
            event_id=f"{self.attempt_id}-{self.sequence}",
            attempt_id=self.attempt_id,
            tenant_id="t",
            campaign_id="c",
            type=type_,  # type: ignore[arg-type]
            sequence=self.sequence,
            time=at,
            **kw,
        )


class Counter:
    """What the faust agent does: a report per campaign, progress per attempt."""

    def __init__(self) -> None:
        self.report = empty_report()
        self.progress: dict[str, AttemptProgress] = {}

    def offer(self, event: events_pb2.CallEvent) -> bool:
        key = progress_key(event)
        counting = count_exactly(self.report, self.progress.get(key, AttemptProgress()), event)
        self.report, self.progress[key] = counting.report, counting.progress
        return counting.counted


def yes_call(attempt_id: str) -> list[events_pb2.CallEvent]:
    a = Attempt(attempt_id)
    return [
        a.ev(T.CALL_EVENT_TYPE_DIALING, 0),
        a.ev(T.CALL_EVENT_TYPE_RINGING, 200),
        a.ev(T.CALL_EVENT_TYPE_ANSWERED, 3200),
        a.ev(T.CALL_EVENT_TYPE_NODE_ENTERED, 3300, node="greet"),
        a.ev(T.CALL_EVENT_TYPE_NODE_ENTERED, 6000, node="confirm"),
        a.ev(T.CALL_EVENT_TYPE_REPLY, 9000, node="confirm", intent="no_input"),
        a.ev(T.CALL_EVENT_TYPE_REPLY, 12000, node="confirm", intent="yes", confidence=0.93),
        a.ev(T.CALL_EVENT_TYPE_NODE_ENTERED, 12100, node="confirmed", tag="confirmed"),
        a.ev(T.CALL_EVENT_TYPE_COMPLETED, 23200, outcome=OutcomeDetail(outcome=CALL_OUTCOME_COMPLETED)),
    ]


def hang_up_call(attempt_id: str) -> list[events_pb2.CallEvent]:
    a = Attempt(attempt_id)
    return [
        a.ev(T.CALL_EVENT_TYPE_DIALING, 0),
        a.ev(T.CALL_EVENT_TYPE_ANSWERED, 1000),
        a.ev(T.CALL_EVENT_TYPE_NODE_ENTERED, 1100, node="greet"),
        a.ev(T.CALL_EVENT_TYPE_NODE_ENTERED, 4000, node="confirm"),
        a.ev(T.CALL_EVENT_TYPE_REPLY, 6000, node="confirm", intent="other", confidence=0.31),
        # Keys pressed: a reply, but not a recognition (no ASR confidence).
        a.ev(T.CALL_EVENT_TYPE_DTMF, 6500, node="confirm", transcript="7", intent="other"),
        a.ev(T.CALL_EVENT_TYPE_REPLY, 6500, node="confirm", intent="other", transcript="7", confidence=1.0),
        a.ev(
            T.CALL_EVENT_TYPE_COMPLETED,
            7000,
            outcome=OutcomeDetail(outcome=CALL_OUTCOME_CALLEE_HUNG_UP, node="confirm"),
        ),
    ]


def test_funnel_per_node_counts_entries_answers_no_input_no_match_and_hang_ups() -> None:
    counter = Counter()
    for event in [*yes_call("a1"), *hang_up_call("a2")]:
        assert counter.offer(event)
    report = to_proto("campaigns/c", counter.report)
    funnel = {n.node: n for n in report.funnel}
    assert [n.node for n in report.funnel] == ["greet", "confirm", "confirmed"]
    assert (funnel["greet"].entered, funnel["confirm"].entered, funnel["confirmed"].entered) == (2, 2, 1)
    assert dict(funnel["confirm"].answers) == {"yes": 1}
    assert (funnel["confirm"].no_input, funnel["confirm"].no_match, funnel["confirm"].hung_up) == (1, 2, 1)
    assert funnel["greet"].hung_up == 0
    assert dict(report.tags) == {"confirmed": 1}


def test_ring_and_talk_durations_come_from_event_times() -> None:
    counter = Counter()
    for event in [*yes_call("a1"), *hang_up_call("a2")]:
        counter.offer(event)
    report = to_proto("campaigns/c", counter.report)
    # a1 rang from 200 ms to 3200 ms and talked 20 s; a2 had no ringing signal: from dialing, 1 s, talked 6 s.
    assert (report.ring.count, report.ring.max_ms, report.ring.mean_ms) == (2, 3000, 2000)
    assert (report.talk.count, report.talk.max_ms, report.talk.mean_ms) == (2, 20000, 13000)
    assert report.ring.p50_ms == 1000 and report.ring.p95_ms == 3000
    assert sum(report.talk.bucket_counts) == 2
    assert report.asr_confidence.count == 2
    assert abs(report.asr_confidence.mean - 0.62) < 1e-6
    assert report.asr_confidence.tenths[9] == 1 and report.asr_confidence.tenths[3] == 1


def test_a_redelivery_after_ten_thousand_other_events_is_not_counted_twice() -> None:
    counter = Counter()
    first = yes_call("late")
    for event in first:
        assert counter.offer(event)
    # 10,000 other events (1,000+ other calls) pass before Kafka hands the first call's events back.
    n = 0
    while n < 10_000:
        for event in hang_up_call(f"other-{n}"):
            counter.offer(event)
            n += 1
    before = to_proto("campaigns/c", counter.report)
    assert [counter.offer(event) for event in first] == [False] * len(first)
    after = to_proto("campaigns/c", counter.report)
    assert after == before
    assert (after.completed, after.yes) == (1 + n // 8, 1)


def test_events_without_an_attempt_count_once_by_event_id() -> None:
    counter = Counter()
    blocked = events_pb2.CallEvent(
        event_id="b1",
        tenant_id="t",
        campaign_id="c",
        contact_id="k",
        type=T.CALL_EVENT_TYPE_BLOCKED,
        outcome=OutcomeDetail(outcome=events_pb2.CALL_OUTCOME_BLOCKED, rule="DNC"),
    )
    assert counter.offer(blocked)
    assert not counter.offer(blocked)
    other = events_pb2.CallEvent()
    other.CopyFrom(blocked)
    other.event_id = "b2"
    assert counter.offer(other)
    assert counter.report["blocked"] == 2
