"""Property tests over random campaigns, numbers from every region phonenumbers knows, and
random clocks, checked against an independent oracle (compliance_oracle)."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
import pytest
from compliance_oracle import inside_everywhere, local_dates
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from obzvon.compliance import (
    AdmissionRequest,
    ConsentRecord,
    InteractionKind,
    MemoryAuditLog,
    MemoryCounterStore,
    MemoryDncRegistry,
    Outcome,
    Profile,
    Purpose,
    Rule,
    UnknownTimeZoneError,
    admit,
    check_window,
    load_profile,
    next_window_open,
    record_outcome,
)

# Raise for a soak run, e.g. OBZVON_HYPOTHESIS_SCALE=20; the default keeps the suite fast.
SCALE = int(os.environ.get("OBZVON_HYPOTHESIS_SCALE", "1"))


def _examples() -> list[str]:
    out: set[str] = set()
    types = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    )
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for t in types:
            ex = phonenumbers.example_number_for_type(region, t)
            if ex is not None and phonenumbers.is_valid_number(ex):
                out.add(phonenumbers.format_number(ex, phonenumbers.PhoneNumberFormat.E164))
    return sorted(out)


ALL_NUMBERS = _examples()
MULTI_ZONE = [
    "+18005551234",
    "+79161234567",
    "+78005553535",
    "+61412345678",
    "+528001234567",
    "+447400123456",
]
NON_GEO = sorted(
    phonenumbers.format_number(ex, phonenumbers.PhoneNumberFormat.E164)
    for cc in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    if (ex := phonenumbers.example_number_for_non_geo_entity(cc)) is not None and phonenumbers.is_valid_number(ex)
)
SIM_NUMBERS = [
    "+74951234567",
    "+74232123456",
    "+79161234567",
    "+12125551234",
    "+13105551234",
    "+442079460000",
    "+493012345678",
    "+61212345678",
    "+81312345678",
    "+18005551234",
]
PROFILES = [load_profile(n) for n in ("default", "us-tcpa", "ru-230fz")]

clocks = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
durations = st.integers(0, 40 * 60).map(lambda s: timedelta(seconds=s))


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    base = draw(st.sampled_from(PROFILES))
    if not draw(st.booleans()):
        return base
    windows: dict[str, str] = {}
    for dt, w in base.windows.items():
        if w is None or draw(st.integers(0, 5)) == 0:
            windows[dt.value] = "none"
            continue
        lo = w.start.hour * 60 + w.start.minute
        hi = w.end.hour * 60 + w.end.minute
        a = draw(st.integers(lo, hi - 1))
        b = draw(st.integers(a + 1, hi))
        windows[dt.value] = f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}"
    over: dict[str, Any] = {"windows": windows}
    if base.frequency_cap_per_day is not None:
        over["frequency_cap_per_day"] = draw(st.integers(0, base.frequency_cap_per_day))
    return base.narrow(over)


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    number=st.sampled_from(ALL_NUMBERS + MULTI_ZONE + NON_GEO),
    profile=profiles(),
    at=clocks,
    duration=durations,
)
def test_window_matches_oracle(number: str, profile: Profile, at: datetime, duration: timedelta) -> None:
    try:
        v = check_window(number, profile, at, duration)
    except UnknownTimeZoneError:
        assert not inside_everywhere(number, profile, at, duration)
        return
    assert v.ok == inside_everywhere(number, profile, at, duration), v
    if not v.ok:
        assert v.rule in (Rule.OUTSIDE_WINDOW, Rule.HOLIDAY_WINDOW)
        if v.retry_at is not None:
            assert v.retry_at > at
            assert inside_everywhere(number, profile, v.retry_at, duration)


@settings(max_examples=120 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    number=st.sampled_from(MULTI_ZONE + SIM_NUMBERS + ALL_NUMBERS[::7]),
    profile=profiles(),
    after=clocks,
    duration=durations,
)
def test_next_window_open_is_earliest(number: str, profile: Profile, after: datetime, duration: timedelta) -> None:
    t = next_window_open(number, profile, after, duration)
    if t is None:
        return
    assert t >= after
    assert inside_everywhere(number, profile, t, duration)
    for back in (timedelta(seconds=1), timedelta(minutes=1), timedelta(minutes=37)):
        if t - back >= after:
            assert not inside_everywhere(number, profile, t - back, duration)


@dataclass
class Call:
    tenant: str
    debtor: str
    number: str
    at: datetime
    outcome: Outcome


event = st.tuples(
    st.integers(0, 2),  # tenant
    st.integers(0, len(SIM_NUMBERS) - 1),  # number
    st.integers(0, 9 * 60),  # minutes to advance the clock
    st.sampled_from(list(Outcome)),
    st.integers(0, 19),  # 0: add to the tenant's DNC, 1: global DNC
    st.booleans(),  # voice messages allowed
    # The tenant's debtor label: usually the number's own, sometimes a fresh or another debtor's
    # (a tenant regrouping or re-labelling on re-import must not reset any count).
    st.one_of(st.none(), st.integers(0, 12)),
)


@settings(max_examples=40 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    tenant_profiles=st.lists(profiles(), min_size=3, max_size=3),
    purposes=st.lists(st.sampled_from(list(Purpose)), min_size=3, max_size=3),
    consented=st.sets(st.integers(0, len(SIM_NUMBERS) - 1)),
    events=st.lists(event, min_size=5, max_size=60),
)
def test_random_campaigns_never_break_a_rule(
    start: datetime,
    tenant_profiles: list[Profile],
    purposes: list[Purpose],
    consented: set[int],
    events: list[tuple[int, int, int, Outcome, int, bool, int | None]],
) -> None:
    asyncio.run(_simulate(start, tenant_profiles, purposes, consented, events))


def _period_keys(number: str, at: datetime) -> dict[str, set[str]]:
    days = local_dates(number, at)
    return {
        "day": {d.isoformat() for d in days},
        "week": {f"{d.isocalendar().year}-W{d.isocalendar().week:02d}" for d in days},
        "month": {f"{d.year}-{d.month:02d}" for d in days},
    }


async def _simulate(
    start: datetime,
    tenant_profiles: list[Profile],
    purposes: list[Purpose],
    consented: set[int],
    events: list[tuple[int, int, int, Outcome, int, bool, int | None]],
) -> None:
    store, dnc, audit = MemoryCounterStore(), MemoryDncRegistry(), MemoryAuditLog()
    dnc_model: dict[str | None, set[str]] = defaultdict(set)
    ledger: list[Call] = []
    now = start
    consent = ConsentRecord(datetime(2020, 1, 1, tzinfo=UTC), "web", "form")
    for i, (ti, di, advance, outcome, dnc_roll, voice, label) in enumerate(events):
        now += timedelta(minutes=advance)
        tenant, number, profile = f"t{ti}", SIM_NUMBERS[di], tenant_profiles[ti]
        if dnc_roll == 0:
            await dnc.add(number, tenant)
            dnc_model[tenant].add(number)
        elif dnc_roll == 1:
            await dnc.add(number)
            dnc_model[None].add(number)
        r = AdmissionRequest(
            tenant=tenant,
            campaign=f"c{ti}",
            attempt=f"a{i}",
            number=number,
            profile=profile,
            purpose=purposes[ti],
            caller_id="+15550100",
            registered_caller_ids=["+15550100"] if ti != 2 or di % 3 else ["+15550199"],
            expected_duration=timedelta(minutes=3),
            contact_key=f"debtor-{di if label is None else label}",
            consent=consent if di in consented else None,
            may_leave_voice_message=voice,
        )
        d = await admit(r, store=store, dnc=dnc, audit=audit, now=now)
        if not d.allowed:
            assert d.status == f"blocked: {d.rule}"
            continue
        # Independent checks of everything an admission promises.
        assert number not in dnc_model[None] and number not in dnc_model[tenant]
        assert purposes[ti] is Purpose.INFORMATIONAL or di in consented
        assert ti != 2 or di % 3
        assert inside_everywhere(number, profile, now, r.expected_duration)
        keys = _period_keys(number, now)
        for kind, counted in (
            ("conversation", {Outcome.ANSWERED}),
            ("voice_message", {Outcome.VOICE_MESSAGE}),
        ):
            limits = profile.limits_for(InteractionKind(kind))
            for period in ("day", "week", "month"):
                limit = getattr(limits, period)
                if limit is None:
                    continue
                for key in keys[period]:
                    # Per debtor (the tenant's grouping) and per number (whatever the label says).
                    by_debtor = sum(
                        1
                        for c in ledger
                        if c.tenant == tenant
                        and c.debtor == r.contact_key
                        and c.outcome in counted
                        and key in _period_keys(c.number, c.at)[period]
                    )
                    by_number = sum(
                        1
                        for c in ledger
                        if c.tenant == tenant
                        and c.number == number
                        and c.outcome in counted
                        and key in _period_keys(c.number, c.at)[period]
                    )
                    assert by_debtor < limit, (kind, period, key, by_debtor, limit)
                    assert by_number < limit, (kind, period, key, by_number, limit)
        if profile.frequency_cap_per_day is not None:
            for day in keys["day"]:
                used = sum(
                    1
                    for c in ledger
                    if c.number == number
                    and c.outcome in (Outcome.ANSWERED, Outcome.VOICE_MESSAGE)
                    and day in _period_keys(c.number, c.at)["day"]
                )
                assert used < profile.frequency_cap_per_day
        if profile.attempts_per_day is not None:
            # Every admitted call was placed here, so each counts, answered or not, whoever made it.
            for day in keys["day"]:
                placed = sum(1 for c in ledger if c.number == number and day in _period_keys(c.number, c.at)["day"])
                assert placed < profile.attempts_per_day
        if outcome is Outcome.VOICE_MESSAGE and not voice:
            outcome = Outcome.MACHINE
        assert await record_outcome(r.attempt, outcome, store=store)
        ledger.append(Call(tenant, r.contact_key or number, number, now, outcome))
    assert len(audit.records) == len(events)


def test_example_pool_is_wide() -> None:
    regions = {phonenumbers.region_code_for_number(phonenumbers.parse(n)) for n in ALL_NUMBERS}
    assert len(regions) > 200


@pytest.mark.parametrize("number", MULTI_ZONE)
def test_multi_zone_numbers_really_span_zones(number: str) -> None:
    from phonenumbers.timezone import time_zones_for_number

    assert len(time_zones_for_number(phonenumbers.parse(number))) > 1


relabelled_call = st.tuples(
    st.integers(0, 2),  # one of three Moscow numbers
    st.one_of(st.none(), st.integers(0, 3)),  # the tenant's debtor label on this import, or none
    st.integers(0, 6 * 60),  # minutes to advance the clock
    st.sampled_from([Outcome.ANSWERED, Outcome.NOT_CONNECTED, Outcome.VOICE_MESSAGE]),
)


@settings(max_examples=60 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days=st.integers(0, 3 * 365), calls=st.lists(relabelled_call, min_size=2, max_size=40))
def test_relabelling_debtors_never_resets_230fz_counts(
    days: int, calls: list[tuple[int, int | None, int, Outcome]]
) -> None:
    """A tenant re-importing numbers under fresh or swapped debtor keys: every 230-FZ limit still holds
    per number and per debtor key."""
    asyncio.run(_relabel(datetime(2024, 1, 1, 5, tzinfo=UTC) + timedelta(days=days), calls))


async def _relabel(start: datetime, calls: list[tuple[int, int | None, int, Outcome]]) -> None:
    store, dnc, audit = MemoryCounterStore(), MemoryDncRegistry(), MemoryAuditLog()
    profile = load_profile("ru-230fz")
    numbers = ["+74951234567", "+74957654321", "+74959876543"]
    ledger: list[Call] = []
    now = start
    for i, (ni, label, advance, outcome) in enumerate(calls):
        now += timedelta(minutes=advance)
        number = numbers[ni]
        r = AdmissionRequest(
            tenant="t",
            campaign="c",
            attempt=f"a{i}",
            number=number,
            profile=profile,
            purpose=Purpose.INFORMATIONAL,
            caller_id="+15550100",
            registered_caller_ids=["+15550100"],
            expected_duration=timedelta(minutes=3),
            contact_key=None if label is None else f"label-{label}",
            may_leave_voice_message=True,
        )
        d = await admit(r, store=store, dnc=dnc, audit=audit, now=now)
        if d.allowed:
            keys = _period_keys(number, now)
            for kind, counted in (("conversation", Outcome.ANSWERED), ("voice_message", Outcome.VOICE_MESSAGE)):
                limits = profile.limits_for(InteractionKind(kind))
                for period in ("day", "week", "month"):
                    for key in keys[period]:
                        same_period = [
                            c for c in ledger if c.outcome is counted and key in _period_keys(c.number, c.at)[period]
                        ]
                        assert sum(c.number == number for c in same_period) < getattr(limits, period), (kind, period)
                        if r.contact_key is not None:
                            assert sum(c.debtor == r.contact_key for c in same_period) < getattr(limits, period)
            assert await record_outcome(r.attempt, outcome, store=store)
            ledger.append(Call("t", r.contact_key or number, number, now, outcome))
