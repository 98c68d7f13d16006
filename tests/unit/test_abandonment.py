"""Abandoned calls (issue #10, item 6): an answered call with no robot audio within 2 s is abandoned, and
a campaign past its profile's share pauses."""

from __future__ import annotations

from obzvon.compliance import load_profile
from obzvon.v1 import events_pb2
from obzvon_scheduler.abandonment import AbandonmentCount, AbandonmentRule, assess, is_abandoned


def completed(audio_after_s: float | None) -> events_pb2.CallEvent:
    event = events_pb2.CallEvent(type=events_pb2.CALL_EVENT_TYPE_COMPLETED)
    if audio_after_s is not None:
        event.robot_audio_after_answer.FromNanoseconds(int(audio_after_s * 1e9))
    return event


def test_silence_past_two_seconds_or_no_robot_at_all_is_abandoned() -> None:
    assert not is_abandoned(completed(0.0))
    assert not is_abandoned(completed(2.0))
    assert is_abandoned(completed(2.01))
    assert is_abandoned(completed(None))


def test_share_over_the_profile_limit_pauses() -> None:
    limit = load_profile("us-tcpa").max_abandonment_rate
    assert limit == 0.03
    rule = AbandonmentRule(max_share=limit, min_answered=20)
    assert assess(AbandonmentCount(answered=100, abandoned=3), rule) is None  # exactly 3 % is allowed
    reason = assess(AbandonmentCount(answered=100, abandoned=4), rule)
    assert reason == (
        "abandoned calls: 4% of the 100 answered calls in the last 30 days heard no robot audio within 2 s (limit 3%)"
    )
    assert assess(AbandonmentCount(answered=19, abandoned=19), rule) is None  # too few to judge yet
    assert load_profile("default").max_abandonment_rate is None
