"""The per-number daily attempt cap: every INVITE sent counts, whatever its outcome and whoever sends it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from obzvon.compliance import (
    AdmissionRequest,
    CounterStore,
    MemoryAuditLog,
    MemoryCounterStore,
    MemoryDncRegistry,
    Outcome,
    Purpose,
    RedisCounterStore,
    Rule,
    admit,
    load_profile,
    record_outcome,
)

NUMBER = "+74951234567"
CALLER = "+74950000000"
# Tuesday 10:00 in Moscow.
MORNING = datetime(2024, 3, 5, 7, 0, tzinfo=UTC)


def attempt(n: int, tenant: str, profile: str = "default") -> AdmissionRequest:
    return AdmissionRequest(
        tenant=tenant,
        campaign=f"{tenant}/c1",
        attempt=f"{tenant}-a{n}",
        number=NUMBER,
        profile=load_profile(profile),
        purpose=Purpose.INFORMATIONAL,
        caller_id=CALLER,
        registered_caller_ids=[CALLER],
        expected_duration=timedelta(minutes=2),
    )


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CounterStore]:
    if request.param == "memory":
        yield MemoryCounterStore()
        return
    client = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
    await client.flushdb()
    try:
        yield RedisCounterStore(client)
    finally:
        await client.aclose()


async def _admit(store: CounterStore, r: AdmissionRequest, now: datetime) -> Rule | None:
    decision = await admit(r, store=store, dnc=MemoryDncRegistry(), audit=MemoryAuditLog(), now=now)
    return None if decision.allowed else decision.rule


def test_profiles_set_the_cap_and_retry_bounds() -> None:
    for name in ("default", "us-tcpa", "ru-230fz"):
        profile = load_profile(name)
        assert profile.attempts_per_day == 3
        assert 1 <= profile.max_attempts <= 10
        assert profile.min_retry_delay_seconds >= 600


async def test_unanswered_and_rejected_attempts_count_across_tenants(store: CounterStore) -> None:
    # Busy, no answer, declined: each an INVITE the callee's phone saw, from three different tenants.
    for n, tenant in enumerate(("t1", "t2", "t3")):
        r = attempt(n, tenant)
        assert await _admit(store, r, MORNING + timedelta(minutes=n)) is None
        assert await record_outcome(r.attempt, Outcome.NOT_CONNECTED, store=store)
    assert await _admit(store, attempt(9, "t4"), MORNING + timedelta(minutes=10)) is Rule.DAILY_ATTEMPT_CAP
    # The next local day the count starts again.
    assert await _admit(store, attempt(10, "t4"), MORNING + timedelta(days=1)) is None


async def test_an_attempt_never_placed_gives_its_slot_back(store: CounterStore) -> None:
    for n in range(3):
        r = attempt(n, "t1")
        assert await _admit(store, r, MORNING + timedelta(minutes=n)) is None
        # Refused by the dialer's last check (DNC landed, window closed): no INVITE, nothing rang.
        assert await record_outcome(r.attempt, Outcome.NOT_PLACED, store=store)
    assert await _admit(store, attempt(5, "t1"), MORNING + timedelta(minutes=5)) is None


async def test_an_attempt_with_unknown_outcome_keeps_its_slot(store: CounterStore) -> None:
    # Dialer lost: never settled; the INVITE may have gone out, so it counts.
    assert await _admit(store, attempt(0, "t1"), MORNING) is None
    for n in (1, 2):
        r = attempt(n, "t2")
        assert await _admit(store, r, MORNING + timedelta(minutes=n)) is None
        assert await record_outcome(r.attempt, Outcome.NOT_CONNECTED, store=store)
    assert await _admit(store, attempt(5, "t3"), MORNING + timedelta(minutes=5)) is Rule.DAILY_ATTEMPT_CAP
