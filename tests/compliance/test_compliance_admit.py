from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from obzvon.compliance import (
    AdmissionRequest,
    AuditLog,
    ConsentRecord,
    CounterStore,
    MemoryAuditLog,
    MemoryCounterStore,
    MemoryDncRegistry,
    Outcome,
    Profile,
    Purpose,
    RedisAuditLog,
    RedisCounterStore,
    RedisDncRegistry,
    Rule,
    admit,
    load_profile,
    recheck,
    record_outcome,
    screen_contact,
)

MOSCOW = "+74951234567"
MOSCOW_2 = "+74957654321"
VLADIVOSTOK = "+74232123456"
NY = "+12125551234"
NON_GEO = "+80012345678"
CALLER = "+74950000000"
fz = load_profile("ru-230fz")
default = load_profile("default")


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def msk(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return utc(y, mo, d, h, mi) - timedelta(hours=3)


_n = 0


def req(number: str = MOSCOW, profile: Profile = fz, **kw: Any) -> AdmissionRequest:
    global _n
    _n += 1
    base: dict[str, Any] = {
        "tenant": "t1",
        "campaign": "c1",
        "attempt": f"a{_n}",
        "number": number,
        "profile": profile,
        "purpose": Purpose.INFORMATIONAL,
        "caller_id": CALLER,
        "registered_caller_ids": [CALLER, "+74950000001"],
        "expected_duration": timedelta(minutes=2),
        "contact_key": None,
    }
    base.update(kw)
    return AdmissionRequest(**base)


@dataclasses.dataclass
class Env:
    store: CounterStore
    dnc: MemoryDncRegistry | RedisDncRegistry
    audit: AuditLog

    async def admit(self, r: AdmissionRequest, now: datetime) -> Any:
        return await admit(r, store=self.store, dnc=self.dnc, audit=self.audit, now=now)

    async def call(self, r: AdmissionRequest, now: datetime, outcome: Outcome = Outcome.ANSWERED) -> Any:
        d = await self.admit(r, now)
        if d.allowed:
            await record_outcome(r.attempt, outcome, store=self.store)
        return d


@pytest.fixture(params=["memory", "redis"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    if request.param == "memory":
        yield Env(MemoryCounterStore(), MemoryDncRegistry(), MemoryAuditLog())
        return
    url: str = request.getfixturevalue("redis_url")
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    try:
        yield Env(RedisCounterStore(client), RedisDncRegistry(client), RedisAuditLog(client))
    finally:
        await client.aclose()


async def test_admitted_and_audited(env: Env) -> None:
    r = req()
    d = await env.admit(r, msk(2024, 3, 5, 10))
    assert d.allowed and d.status == "admitted" and d.rule is None
    assert d.number == MOSCOW and d.reservation == r.attempt
    recs = await env.audit.for_contact("c1", MOSCOW)
    assert [x.decision for x in recs] == ["admitted"] and recs[0].attempt == r.attempt


@pytest.mark.parametrize(
    ("kw", "rule"),
    [
        ({"number": "+7123"}, Rule.INVALID_NUMBER),
        ({"number": "not a number"}, Rule.INVALID_NUMBER),
        ({"number": NON_GEO}, Rule.UNKNOWN_TIME_ZONE),
        ({"purpose": Purpose.ADVERTISING}, Rule.NO_CONSENT),
        ({"caller_id": "+74959999999"}, Rule.CALLER_ID_NOT_REGISTERED),
        ({"caller_id": "spoofed"}, Rule.CALLER_ID_NOT_REGISTERED),
    ],
)
async def test_simple_blocks(env: Env, kw: dict[str, Any], rule: Rule) -> None:
    r = req(**kw)
    d = await env.admit(r, msk(2024, 3, 5, 10))
    assert not d.allowed and d.rule is rule and d.status == f"blocked: {rule.value}" and d.retry_at is None
    recs = await env.audit.for_campaign("c1")
    assert recs[-1].status == d.status and recs[-1].rule == rule.value and recs[-1].detail


async def test_consent_admits_advertising(env: Env) -> None:
    consent = ConsentRecord(utc(2024, 1, 1), "web form", "landing page example.org")
    assert (await env.admit(req(purpose=Purpose.ADVERTISING, consent=consent), msk(2024, 3, 5, 10))).allowed
    revoked = dataclasses.replace(consent, revoked_at=utc(2024, 2, 1))
    d = await env.admit(req(purpose=Purpose.ADVERTISING, consent=revoked), msk(2024, 3, 5, 10))
    assert d.rule is Rule.NO_CONSENT


async def test_dnc_global_and_tenant(env: Env) -> None:
    await env.dnc.add("8 (495) 123-45-67".replace("8 ", "+7 "))  # global
    d = await env.admit(req(), msk(2024, 3, 5, 10))
    assert d.rule is Rule.DNC and "global" in d.detail
    await env.dnc.add(MOSCOW_2, "t2")
    assert (await env.admit(req(MOSCOW_2), msk(2024, 3, 5, 10))).allowed  # t1 is not bound by t2's list
    d = await env.admit(req(MOSCOW_2, tenant="t2"), msk(2024, 3, 5, 10))
    assert d.rule is Rule.DNC and "tenant" in d.detail
    assert await env.dnc.remove(MOSCOW)
    assert (await env.admit(req(), msk(2024, 3, 5, 10))).allowed


async def test_window_blocks_with_retry(env: Env) -> None:
    d = await env.admit(req(), msk(2024, 3, 5, 7, 59))
    assert d.rule is Rule.OUTSIDE_WINDOW and d.retry_at == msk(2024, 3, 5, 8, 0)
    d = await env.admit(req(), msk(2024, 1, 1, 8, 30))
    assert d.rule is Rule.HOLIDAY_WINDOW and d.retry_at == msk(2024, 1, 1, 9, 0)


async def test_daily_limit_in_debtor_local_day(env: Env) -> None:
    assert (await env.call(req(contact_key="D1"), msk(2024, 3, 5, 8))).allowed
    # Another number of the same debtor: the limit is per debtor, not per number.
    d = await env.admit(req(MOSCOW_2, contact_key="D1"), msk(2024, 3, 5, 21))
    assert d.rule is Rule.FZ230_DAILY and d.status == "blocked: 230-FZ daily limit"
    assert d.retry_at == msk(2024, 3, 6, 8)
    assert (await env.call(req(contact_key="D1"), msk(2024, 3, 6, 8))).allowed
    # Another tenant's debtor "D1" is someone else.
    assert (await env.call(req(tenant="t2", contact_key="D1"), msk(2024, 3, 6, 9))).allowed


async def test_fresh_debtor_key_does_not_restart_the_count(env: Env) -> None:
    # A tenant that labels the same number as a new debtor on every import: the number's own count holds.
    assert (await env.call(req(contact_key="import-1"), msk(2024, 3, 5, 10))).allowed
    for key in ("import-2", None):
        d = await env.admit(req(contact_key=key), msk(2024, 3, 5, 11))
        assert d.rule is Rule.FZ230_DAILY, key
    # The debtor key still groups the debtor's other numbers (checked in both counts).
    d = await env.admit(req(MOSCOW_2, contact_key="import-1"), msk(2024, 3, 5, 12))
    assert d.rule is Rule.FZ230_DAILY


async def test_local_midnight_not_utc(env: Env) -> None:
    # Vladivostok (UTC+10): 21:50 Tuesday and 08:00 Wednesday are both on the same UTC date.
    assert (await env.call(req(VLADIVOSTOK), utc(2024, 3, 5, 11, 50))).allowed
    assert (await env.call(req(VLADIVOSTOK), utc(2024, 3, 5, 22, 0))).allowed


async def test_weekly_limit_and_week_boundary(env: Env) -> None:
    assert (await env.call(req(), msk(2024, 3, 4, 10))).allowed  # Monday
    assert (await env.call(req(), msk(2024, 3, 5, 10))).allowed
    d = await env.admit(req(), msk(2024, 3, 6, 10))
    assert d.rule is Rule.FZ230_WEEKLY and d.retry_at == msk(2024, 3, 11, 8)
    assert (await env.admit(req(), msk(2024, 3, 10, 19, 50))).rule is Rule.FZ230_WEEKLY  # Sunday
    assert (await env.call(req(), msk(2024, 3, 11, 8))).allowed  # next Monday


async def test_monthly_limit_and_month_boundary(env: Env) -> None:
    p = fz.narrow({"limits": {"conversation": {"month": 1}}})
    assert (await env.call(req(profile=p), msk(2024, 3, 20, 10))).allowed
    d = await env.admit(req(profile=p), msk(2024, 3, 27, 10))
    assert d.rule is Rule.FZ230_MONTHLY and d.retry_at == msk(2024, 4, 1, 8)
    assert (await env.call(req(profile=p), msk(2024, 4, 1, 8))).allowed


async def test_unanswered_call_does_not_count(env: Env) -> None:
    r = req()
    assert (await env.admit(r, msk(2024, 3, 5, 10))).allowed
    # While the call is in flight its slot is held.
    assert (await env.admit(req(), msk(2024, 3, 5, 10, 1))).rule is Rule.FZ230_DAILY
    assert await record_outcome(r.attempt, Outcome.NOT_CONNECTED, store=env.store)
    assert not await record_outcome(r.attempt, Outcome.ANSWERED, store=env.store)  # redelivered
    assert (await env.call(req(), msk(2024, 3, 5, 10, 5))).allowed


async def test_replayed_admission_counts_once(env: Env) -> None:
    r = req()
    assert (await env.admit(r, msk(2024, 3, 5, 10))).allowed
    d = await env.admit(r, msk(2024, 3, 5, 10))
    assert d.allowed and "replayed" in d.detail
    assert await env.store.count(f"lim:t1:conversation:{MOSCOW}:day:2024-03-05") == 1


async def test_voice_messages(env: Env) -> None:
    # Voice messages: 2 a day; leaving one does not use the conversation slot.
    for minute in (0, 10):
        r = req(may_leave_voice_message=True)
        assert (await env.call(r, msk(2024, 3, 5, 10, minute), Outcome.VOICE_MESSAGE)).allowed
    d = await env.admit(req(may_leave_voice_message=True), msk(2024, 3, 5, 10, 20))
    assert d.rule is Rule.FZ230_DAILY and "voice_message" in d.detail
    # A campaign that never leaves messages can still have its one conversation... but the
    # frequency cap (2 answered robocalls a day) already counts both messages.
    d = await env.admit(req(), msk(2024, 3, 5, 10, 30))
    assert d.rule is Rule.FREQUENCY_CAP


async def test_machine_without_message_counts_nothing_230fz(env: Env) -> None:
    assert (await env.call(req(), msk(2024, 3, 5, 10), Outcome.MACHINE)).allowed
    assert (await env.call(req(), msk(2024, 3, 5, 11))).allowed


async def test_frequency_cap_across_tenants(env: Env) -> None:
    assert (await env.call(req(NY, default, tenant="a"), utc(2024, 6, 4, 14))).allowed
    assert (await env.call(req(NY, default, tenant="b"), utc(2024, 6, 4, 15))).allowed
    d = await env.admit(req(NY, default, tenant="c"), utc(2024, 6, 4, 16))
    assert d.rule is Rule.FREQUENCY_CAP and d.retry_at == utc(2024, 6, 5, 13)  # 09:00 EDT
    # A tenant narrowing the cap to 1 is stopped already.
    assert (await env.admit(req(NY, default.narrow({"frequency_cap_per_day": 1})), utc(2024, 6, 4, 16))).rule
    assert (await env.call(req(NY, default, tenant="c"), utc(2024, 6, 5, 13))).allowed


async def test_recheck_releases_reservation(env: Env) -> None:
    r = req()
    assert (await env.admit(r, msk(2024, 3, 5, 10))).allowed
    await env.dnc.add(MOSCOW, "t1")  # the callee opted out meanwhile
    d = await recheck(r, dnc=env.dnc, audit=env.audit, now=msk(2024, 3, 5, 10, 1), store=env.store)
    assert d.rule is Rule.DNC
    assert await env.store.count(f"lim:t1:conversation:{MOSCOW}:day:2024-03-05") == 0
    phases = [x.phase for x in await env.audit.for_contact("c1", MOSCOW)]
    assert phases == ["admit", "recheck"]


async def test_recheck_window_expired(env: Env) -> None:
    r = req()
    assert (await env.admit(r, msk(2024, 3, 5, 21, 50))).allowed
    d = await recheck(r, dnc=env.dnc, audit=env.audit, now=msk(2024, 3, 5, 21, 59), store=env.store)
    assert d.rule is Rule.OUTSIDE_WINDOW


async def test_screen_contact(env: Env) -> None:
    kw: dict[str, Any] = {"tenant": "t1", "campaign": "c1", "dnc": env.dnc, "audit": env.audit}
    now = utc(2024, 3, 5)
    d = await screen_contact(
        number="8 916 123-45-67",
        purpose=Purpose.INFORMATIONAL,
        consent=None,
        default_region="RU",
        now=now,
        **kw,
    )
    assert d.allowed and d.number == "+79161234567"
    d = await screen_contact(number="+79161234567", purpose=Purpose.ADVERTISING, consent=None, now=now, **kw)
    assert d.status == "blocked: no consent"
    await env.dnc.add("+79161234567")
    d = await screen_contact(number="+79161234567", purpose=Purpose.INFORMATIONAL, consent=None, now=now, **kw)
    assert d.status == "blocked: DNC"
    d = await screen_contact(number="12", purpose=Purpose.INFORMATIONAL, consent=None, now=now, **kw)
    assert d.status == "blocked: invalid number"


async def test_bulk_dnc(env: Env) -> None:
    res = await env.dnc.bulk_add(["8 495 123-45-67", "+7 495 123 45 67", "garbage", "+12125551234"], "t9", "RU")
    assert res.added == 2 and res.invalid == ["garbage"]
    assert await env.dnc.contains("+74951234567", "t9")
    assert not await env.dnc.contains("+74951234567")
    assert (await env.dnc.check("+1 212 555 1234", "t9")) is not None


async def test_redis_concurrent_reservations_one_conversation(redis_url: str) -> None:
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(4)]
    try:
        await clients[0].flushdb()
        dnc, audit = RedisDncRegistry(clients[0]), RedisAuditLog(clients[0])
        stores = [RedisCounterStore(c) for c in clients]
        now = msk(2024, 3, 5, 10)
        reqs = [req(contact_key="debtor-42", number=MOSCOW if i % 2 else MOSCOW_2) for i in range(20)]
        decisions = await asyncio.gather(
            *(admit(r, store=stores[i % 4], dnc=dnc, audit=audit, now=now) for i, r in enumerate(reqs))
        )
        assert sum(d.allowed for d in decisions) == 1
        assert {d.rule for d in decisions if not d.allowed} == {Rule.FZ230_DAILY}
        assert await stores[0].count("lim:t1:conversation:debtor-42:day:2024-03-05") == 1
        assert len(await audit.for_contact("c1", "debtor-42", limit=100)) == 20

        # Frequency cap across tenants under the same race: exactly 2 per day.
        reqs = [req(NY, default, tenant=f"t{i}") for i in range(20)]
        decisions = await asyncio.gather(
            *(admit(r, store=stores[i % 4], dnc=dnc, audit=audit, now=utc(2024, 6, 4, 15)) for i, r in enumerate(reqs))
        )
        assert sum(d.allowed for d in decisions) == 2
    finally:
        for c in clients:
            await c.aclose()
