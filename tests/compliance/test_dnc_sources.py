"""DNC entries know who made them: a callee's opt-out cannot be removed, only lifted by a newer consent,
and every change is audited. The same rules for the in-memory and the Redis registry (issue #10, item 1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from obzvon.compliance import (
    CalleeOptOutError,
    ConsentEvidence,
    DncAction,
    DncRegistry,
    DncSource,
    LiftRefusal,
    LiftRefusedError,
    MemoryDncRegistry,
    RedisDncRegistry,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
A, B, C = "+74951234567", "+74951234568", "+74951234569"


@pytest.fixture(params=["memory", "redis"])
async def dnc(request: pytest.FixtureRequest) -> AsyncIterator[DncRegistry]:
    if request.param == "memory":
        yield MemoryDncRegistry()
        return
    client = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
    await client.flushdb()
    try:
        yield RedisDncRegistry(client)
    finally:
        await client.aclose()


def consent(at: datetime) -> ConsentEvidence:
    return ConsentEvidence(at, "web-form", "Согласен получать звонки")


async def test_opt_out_outranks_the_tenants_entry_and_cannot_be_removed(dnc: DncRegistry) -> None:
    assert await dnc.add(A, "t1", at=T0)
    assert not await dnc.opt_out(A, "t1", at=T0 + timedelta(minutes=1), attempt="a1")  # already listed
    assert not await dnc.add(A, "t1", at=T0 + timedelta(minutes=2))  # re-adding does not make it the tenant's
    hit = await dnc.check(A, "t1")
    assert hit is not None and hit.entry.source is DncSource.CALLEE_OPT_OUT
    assert (hit.entry.added_at, hit.entry.attempt) == (T0 + timedelta(minutes=1), "a1")
    await dnc.add(B, "t1", at=T0)

    with pytest.raises(CalleeOptOutError) as refused:
        await dnc.remove_many([B, A, C], "t1", at=T0 + timedelta(hours=1))
    assert [e.number for e in refused.value.entries] == [A]
    assert "opt-out in call at 2026-03-02T10:01:00+00:00" in str(refused.value)
    assert await dnc.contains(A, "t1") and await dnc.contains(B, "t1")  # all or nothing
    with pytest.raises(CalleeOptOutError):
        await dnc.remove(A, "t1")
    assert await dnc.remove_many([B, C], "t1") == 1

    # Only a consent newer than the opt-out lifts it.
    for when, refusal in (
        (T0, LiftRefusal.CONSENT_NOT_NEWER),
        (T0 + timedelta(minutes=1), LiftRefusal.CONSENT_NOT_NEWER),
    ):
        with pytest.raises(LiftRefusedError) as lift:
            await dnc.lift_opt_out(A, "t1", consent(when))
        assert lift.value.refusal is refusal
    with pytest.raises(LiftRefusedError) as lift:
        await dnc.lift_opt_out(A, "t2", consent(T0 + timedelta(days=1)))
    assert lift.value.refusal is LiftRefusal.NOT_LISTED
    await dnc.add(C, "t1")
    with pytest.raises(LiftRefusedError) as lift:
        await dnc.lift_opt_out(C, "t1", consent(T0 + timedelta(days=1)))
    assert lift.value.refusal is LiftRefusal.NOT_AN_OPT_OUT
    await dnc.lift_opt_out(A, "t1", consent(T0 + timedelta(days=1)), at=T0 + timedelta(days=1, hours=1))
    assert await dnc.check(A, "t1") is None

    page = await dnc.audit("t1", limit=100)
    assert page.next_cursor == ""
    trail = [(r.action, r.number, r.source) for r in reversed(page.records)]
    assert trail == [
        (DncAction.ADD, A, DncSource.TENANT),
        (DncAction.ADD, A, DncSource.CALLEE_OPT_OUT),
        (DncAction.ADD, B, DncSource.TENANT),
        (DncAction.REMOVE_REFUSED, A, DncSource.CALLEE_OPT_OUT),
        (DncAction.REMOVE_REFUSED, A, DncSource.CALLEE_OPT_OUT),
        (DncAction.REMOVE, B, DncSource.TENANT),
        (DncAction.ADD, C, DncSource.TENANT),
        (DncAction.LIFT, A, DncSource.CALLEE_OPT_OUT),
    ]
    assert page.records[0].consent == consent(T0 + timedelta(days=1))
    assert page.records[0].at == T0 + timedelta(days=1, hours=1)
    assert not (await dnc.audit("t2")).records and not (await dnc.audit()).records


async def test_audit_pages_newest_first(dnc: DncRegistry) -> None:
    numbers = [f"+7495123{i:04d}" for i in range(7)]
    res = await dnc.bulk_add([*numbers, "garbage"], None, at=T0, reason="regulator")
    assert (res.added, res.invalid) == (7, ["garbage"])
    seen: list[str] = []
    cursor = ""
    while True:
        page = await dnc.audit(None, limit=3, cursor=cursor)
        assert len(page.records) <= 3
        seen += [r.number for r in page.records]
        assert all(r.source is DncSource.IMPORT and r.reason == "regulator" for r in page.records)
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == list(reversed(numbers))


@dataclass
class Model:
    """What the lists must hold: number -> (callee-made, when)."""

    entries: dict[str, tuple[bool, datetime]]


NUMBERS = [A, B, C]
ops = st.lists(
    st.tuples(
        st.sampled_from(["add", "opt_out", "remove", "lift"]),
        st.sets(st.sampled_from(NUMBERS), min_size=1),
        st.integers(-2, 3),
    ),
    max_size=25,
)


async def _run(dnc: DncRegistry, steps: list[tuple[str, set[str], int]]) -> None:
    model = Model({})
    now = T0
    for op, numbers, offset in steps:
        now += timedelta(minutes=1)
        number = min(numbers)
        if op == "add":
            for n in sorted(numbers):
                assert await dnc.add(n, "t", at=now) == (n not in model.entries)
                model.entries.setdefault(n, (False, now))
        elif op == "opt_out":
            await dnc.opt_out(number, "t", at=now)
            model.entries[number] = (True, now)
        elif op == "remove":
            protected = sorted(n for n in numbers if model.entries.get(n, (False, now))[0])
            try:
                removed = await dnc.remove_many(sorted(numbers), "t", at=now)
            except CalleeOptOutError as e:
                assert sorted(x.number for x in e.entries) == protected
            else:
                assert not protected and removed == sum(n in model.entries for n in numbers)
                for n in numbers:
                    model.entries.pop(n, None)
        else:
            listed = model.entries.get(number)
            given = listed[1] + timedelta(minutes=offset) if listed else now
            try:
                await dnc.lift_opt_out(number, "t", consent(given), at=now)
            except LiftRefusedError as e:
                expected = (
                    LiftRefusal.NOT_LISTED
                    if listed is None
                    else LiftRefusal.NOT_AN_OPT_OUT
                    if not listed[0]
                    else LiftRefusal.CONSENT_NOT_NEWER
                )
                assert e.refusal is expected
                assert listed is None or not listed[0] or offset <= 0
            else:
                assert listed is not None and listed[0] and offset > 0
                del model.entries[number]
        for n in NUMBERS:
            hit = await dnc.check(n, "t")
            assert (hit is not None) == (n in model.entries)
            if hit is not None:
                assert (hit.entry.source is DncSource.CALLEE_OPT_OUT) == model.entries[n][0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=ops)
def test_only_a_newer_consent_ever_removes_an_opt_out(steps: list[tuple[str, set[str], int]]) -> None:
    asyncio.run(_run(MemoryDncRegistry(), steps))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(steps=ops)
def test_redis_registry_follows_the_same_model(redis_url: str, steps: list[tuple[str, set[str], int]]) -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.flushdb()
            await _run(RedisDncRegistry(client), steps)
        finally:
            await client.aclose()

    asyncio.run(run())
