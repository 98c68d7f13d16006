"""Abandoned calls: an answered callee who hears no robot audio within a couple of seconds hears a
silent call, and hangs up or reports spam. Measured per campaign over a rolling period of days and
compared with the campaign's profile (us-tcpa: 3 % over 30 days); past it the campaign pauses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from obzvon import keys
from obzvon.outcomes import person_answered
from obzvon.v1 import events_pb2
from redis.asyncio import Redis

# An answered callee who hears nothing for this long has heard a silent call (47 CFR 64.1200(a)(7)).
AUDIO_WITHIN_S = 2.0
PERIOD_DAYS = 30


@dataclass(frozen=True)
class AbandonmentRule:
    max_share: float  # the profile's max_abandonment_rate
    # Too few answered calls say nothing yet (one silent call of one is not a rate).
    min_answered: int = 20


@dataclass(frozen=True)
class AbandonmentCount:
    answered: int
    abandoned: int


def counts_toward_rate(completed: events_pb2.CallEvent) -> bool:
    """Whether an answered call's COMPLETED event counts: the rate is over calls a person answered."""
    return person_answered(completed.outcome.outcome)


def is_abandoned(completed: events_pb2.CallEvent) -> bool:
    """For the COMPLETED event of an answered call: no robot audio at all, or only after the limit."""
    if not completed.HasField("robot_audio_after_answer"):
        return True
    return completed.robot_audio_after_answer.ToNanoseconds() > AUDIO_WITHIN_S * 1e9


def assess(count: AbandonmentCount, rule: AbandonmentRule) -> str | None:
    """Why the campaign must pause, or None."""
    if count.answered < rule.min_answered:
        return None
    share = count.abandoned / count.answered
    if share <= rule.max_share:
        return None
    return (
        f"abandoned calls: {share:.0%} of the {count.answered} answered calls in the last {PERIOD_DAYS} days "
        f"heard no robot audio within {AUDIO_WITHIN_S:g} s (limit {rule.max_share:.0%})"
    )


async def record(redis: Redis, tenant_id: str, campaign_id: str, abandoned: bool, at: datetime) -> AbandonmentCount:
    """Counts one answered call on its UTC day; the campaign's counts over the last PERIOD_DAYS days."""
    day = at.astimezone(UTC).date()
    day_key = keys.abandonment_day(tenant_id, campaign_id, day.isoformat())
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(day_key, "answered", 1)
        pipe.hincrby(day_key, "abandoned", 1 if abandoned else 0)
        pipe.expire(day_key, (PERIOD_DAYS + 1) * 86400)
        for back in range(PERIOD_DAYS):
            earlier = (day - timedelta(days=back)).isoformat()
            pipe.hmget(keys.abandonment_day(tenant_id, campaign_id, earlier), ["answered", "abandoned"])
        per_day = (await pipe.execute())[3:]
    return AbandonmentCount(
        answered=sum(int(a or 0) for a, _ in per_day), abandoned=sum(int(b or 0) for _, b in per_day)
    )
