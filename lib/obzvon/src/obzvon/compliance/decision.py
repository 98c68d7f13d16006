"""The one place where a call is admitted or held back.

* :func:`admit` - scheduler, when a contact is due: every rule, and an atomic reservation of
  the interaction counters.
* :func:`recheck` - dialer, just before INVITE: the rules that can change while a dial request
  waits (DNC, window); a blocked recheck gives the reservation back.
* :func:`record_outcome` - dialer, after the call: keeps the counter slots the call used.
* :func:`screen_contact` - import: number, DNC and consent, so a bad contact is rejected early.

Each returns or writes an audit record; none of them drops a contact silently.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from prometheus_client import Counter

from .audit import AuditLog, AuditRecord
from .consent import ConsentRecord, Purpose, consent_problem
from .counters import Bucket, CounterStore, Outcome
from .dnc import DncRegistry
from .profile import InteractionKind, Period, Profile
from .rules import ADMITTED, Rule
from .windows import (
    InvalidNumberError,
    UnknownTimeZoneError,
    check_window,
    country_of,
    next_open_in_zones,
    parse_number,
    to_e164,
    zones_for_number,
)

# Every decision, as it is audited, by phase: "screen" (import), "admit" (scheduler), "recheck" (dialer).
# Labels are closed sets (the phases, obzvon.compliance.Rule); never a number, tenant or campaign.
BLOCKS = Counter("obzvon_compliance_blocks", "contacts held back by a compliance rule", ["phase", "rule"])
ADMITTED_BY_PHASE = Counter("obzvon_compliance_admitted", "contacts the compliance rules let through", ["phase"])
for _phase in ("screen", "admit", "recheck"):  # every series from the start: rate() sees the first block
    ADMITTED_BY_PHASE.labels(phase=_phase)
    for _rule in Rule:
        BLOCKS.labels(phase=_phase, rule=_rule.value)


# A reservation outlives any plausible wait for the call's outcome; an outcome that arrives
# later finds nothing to settle, and the slots stay counted (fail closed).
RESERVATION_TTL_S = 2 * 24 * 3600
_BUCKET_TTL_S = {Period.DAY: 3 * 86400, Period.WEEK: 9 * 86400, Period.MONTH: 33 * 86400}
_LIMIT_RULE = {Period.DAY: Rule.FZ230_DAILY, Period.WEEK: Rule.FZ230_WEEKLY, Period.MONTH: Rule.FZ230_MONTHLY}
_POSSIBLE = frozenset({Outcome.ANSWERED, Outcome.MACHINE, Outcome.NOT_CONNECTED})
_FREQ_COUNTS_ON = frozenset({Outcome.ANSWERED, Outcome.VOICE_MESSAGE})
# Every INVITE sent rings the callee's phone, answered or not; only a call never placed is given back.
_ATTEMPT_COUNTS_ON = frozenset({Outcome.NOT_CONNECTED, Outcome.ANSWERED, Outcome.VOICE_MESSAGE, Outcome.MACHINE})


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    tenant: str
    campaign: str
    attempt: str  # unique per attempt; doubles as the counter reservation id
    number: str  # E.164 preferably; anything phonenumbers parses with a leading +
    profile: Profile  # already narrowed by the tenant
    purpose: Purpose
    caller_id: str
    registered_caller_ids: Collection[str]
    # Ringing plus talking: the call must be over before the window closes.
    expected_duration: timedelta
    # Groups the debtor's numbers for 230-FZ counters, in addition to (never instead of) the number's own.
    contact_key: str | None = None
    consent: ConsentRecord | None = None
    may_leave_voice_message: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: Rule | None
    status: str  # "admitted" or "blocked: <rule>"
    detail: str
    retry_at: datetime | None  # when trying again may succeed; None: not by waiting
    number: str | None = None  # E.164 when the number parsed
    reservation: str | None = None  # attempt id holding counter slots; settle with record_outcome

    @classmethod
    def admitted(cls, number: str, reservation: str | None, detail: str = "") -> Decision:
        return cls(True, None, ADMITTED, detail, None, number, reservation)

    @classmethod
    def blocked(cls, rule: Rule, detail: str, retry_at: datetime | None = None, number: str | None = None) -> Decision:
        return cls(False, rule, rule.status, detail, retry_at, number)


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


async def _audit(audit: AuditLog, req: AdmissionRequest, phase: str, now: datetime, d: Decision) -> Decision:
    await audit.append(
        AuditRecord(
            tenant=req.tenant,
            campaign=req.campaign,
            contact=req.contact_key or d.number or req.number,
            number=d.number or req.number,
            attempt=req.attempt,
            at=now,
            phase=phase,
            decision="admitted" if d.allowed else "blocked",
            rule=d.rule.value if d.rule else None,
            status=d.status,
            detail=d.detail,
        )
    )
    _count(phase, d)
    return d


def _count(phase: str, d: Decision) -> None:
    if d.rule is None:
        ADMITTED_BY_PHASE.labels(phase=phase).inc()
    else:
        BLOCKS.labels(phase=phase, rule=d.rule.value).inc()


def _caller_id_ok(caller_id: str, registered: Iterable[str]) -> bool:
    def e164(raw: str) -> str | None:
        try:
            num = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:
            return None
        return to_e164(num) if phonenumbers.is_possible_number(num) else None

    mine = e164(caller_id)
    return mine is not None and mine in {e164(r) for r in registered}


async def _stateless(
    req: AdmissionRequest, dnc: DncRegistry, now: datetime
) -> tuple[Decision | None, phonenumbers.PhoneNumber | None]:
    """Rules that need no counters, in the order that names the most lasting reason first."""
    try:
        num = parse_number(req.number)
    except InvalidNumberError as e:
        return Decision.blocked(Rule.INVALID_NUMBER, str(e)), None
    e164 = to_e164(num)
    hit = await dnc.check(e164, req.tenant)
    if hit is not None:
        return Decision.blocked(Rule.DNC, f"{e164} is on the {hit.scope} do-not-call list", number=e164), num
    problem = consent_problem(req.purpose, req.consent, now)
    if problem is not None:
        return Decision.blocked(Rule.NO_CONSENT, problem, number=e164), num
    if not _caller_id_ok(req.caller_id, req.registered_caller_ids):
        detail = f"caller id {req.caller_id!r} is not one of tenant {req.tenant!r}'s registered numbers"
        return Decision.blocked(Rule.CALLER_ID_NOT_REGISTERED, detail, number=e164), num
    try:
        zones_for_number(num)
    except UnknownTimeZoneError as e:
        return Decision.blocked(Rule.UNKNOWN_TIME_ZONE, str(e), number=e164), num
    w = check_window(num, req.profile, now, req.expected_duration)
    if not w.ok:
        assert w.rule is not None
        return Decision.blocked(w.rule, w.detail, w.retry_at, e164), num
    return None, num


def _period_key(period: Period, day: date) -> str:
    if period is Period.DAY:
        return day.isoformat()
    if period is Period.WEEK:
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return f"{day.year}-{day.month:02d}"


def _period_end(period: Period, day: date) -> date:
    if period is Period.DAY:
        return day + timedelta(days=1)
    if period is Period.WEEK:
        return day + timedelta(days=7 - day.weekday())
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _local_days(zones: Iterable[ZoneInfo], now: datetime) -> list[date]:
    # A number spanning zones may be on two calendar days at once; it counts in both.
    return sorted({now.astimezone(z).date() for z in zones})


def build_buckets(req: AdmissionRequest, e164: str, zones: Iterable[ZoneInfo], now: datetime) -> list[Bucket]:
    """Every counter this call may count in, with the limits the profile sets."""
    profile = req.profile
    days = _local_days(zones, now)
    possible = _POSSIBLE | ({Outcome.VOICE_MESSAGE} if req.may_leave_voice_message else set())
    # Always the number's own count (per tenant, the creditor); a debtor key adds a count over the
    # debtor's numbers but never replaces it, so a fresh label on re-import cannot start afresh.
    counted_as = list(dict.fromkeys([e164, *([req.contact_key] if req.contact_key else [])]))
    buckets: list[Bucket] = []
    for kind in InteractionKind:
        limits = profile.limits_for(kind)
        if limits.is_unlimited():
            continue
        if kind is InteractionKind.CONVERSATION:
            counts_on = frozenset({Outcome.ANSWERED}) if profile.robot_call_is_conversation else frozenset()
        else:
            counts_on = frozenset({Outcome.VOICE_MESSAGE}) | (
                frozenset() if profile.robot_call_is_conversation else frozenset({Outcome.ANSWERED})
            )
        if not counts_on:
            continue
        for period in Period:
            limit = limits.get(period)
            if limit is None:
                continue
            for contact in counted_as:
                for key in sorted({_period_key(period, d) for d in days}):
                    buckets.append(
                        Bucket(
                            key=f"lim:{req.tenant}:{kind.value}:{contact}:{period.value}:{key}",
                            limit=limit,
                            ttl_s=_BUCKET_TTL_S[period],
                            counts_on=counts_on,
                            reserve=bool(counts_on & possible),
                            rule=_LIMIT_RULE[period].value,
                        )
                    )
    # Per number across all tenants: answered calls (the frequency cap), and every call sent (the
    # attempt cap, busy, unanswered and rejected ones too).
    for prefix, limit, counts_on, rule in (
        ("freq", profile.frequency_cap_per_day, _FREQ_COUNTS_ON, Rule.FREQUENCY_CAP),
        ("att", profile.attempts_per_day, _ATTEMPT_COUNTS_ON, Rule.DAILY_ATTEMPT_CAP),
    ):
        if limit is None:
            continue
        for d in days:
            buckets.append(
                Bucket(
                    key=f"{prefix}:{e164}:{d.isoformat()}",
                    limit=limit,
                    ttl_s=_BUCKET_TTL_S[Period.DAY],
                    counts_on=counts_on,
                    reserve=True,
                    rule=rule.value,
                )
            )
    return buckets


def _retry_after_period(
    req: AdmissionRequest,
    num: phonenumbers.PhoneNumber,
    zones: tuple[ZoneInfo, ...],
    rule: Rule,
    now: datetime,
) -> datetime | None:
    period = {Rule.FZ230_WEEKLY: Period.WEEK, Rule.FZ230_MONTHLY: Period.MONTH}.get(rule, Period.DAY)
    ends = [
        datetime.combine(_period_end(period, now.astimezone(z).date()), time(0), tzinfo=z).astimezone(UTC)
        for z in zones
    ]
    return next_open_in_zones(req.profile, country_of(num), zones, max(ends), req.expected_duration)


async def admit(
    request: AdmissionRequest,
    *,
    store: CounterStore,
    dnc: DncRegistry,
    audit: AuditLog,
    now: datetime,
) -> Decision:
    """Decide whether ``request`` may be dialled now; when allowed, its counter slots are
    reserved under ``request.attempt`` and must later be settled with :func:`record_outcome`.

    Idempotent per attempt: admitting an attempt that already holds a reservation admits it
    again without counting twice.
    """
    now = _aware(now)
    blocked, num = await _stateless(request, dnc, now)
    if blocked is not None:
        return await _audit(audit, request, "admit", now, blocked)
    assert num is not None
    e164 = to_e164(num)
    zones = zones_for_number(num)
    buckets = build_buckets(request, e164, zones, now)
    if not buckets:
        return await _audit(audit, request, "admit", now, Decision.admitted(e164, None))
    res = await store.reserve(request.attempt, buckets, RESERVATION_TTL_S)
    if not res.ok:
        assert res.full is not None
        rule = Rule(res.full.rule)
        detail = f"{res.full.key} is at its limit of {res.full.limit}"
        retry = _retry_after_period(request, num, zones, rule, now)
        return await _audit(audit, request, "admit", now, Decision.blocked(rule, detail, retry, e164))
    detail = "replayed admission; counters unchanged" if res.replay else ""
    return await _audit(audit, request, "admit", now, Decision.admitted(e164, request.attempt, detail))


async def recheck(
    request: AdmissionRequest,
    *,
    dnc: DncRegistry,
    audit: AuditLog,
    now: datetime,
    store: CounterStore | None = None,
) -> Decision:
    """The dialer's last look before INVITE.  When it blocks and ``store`` is given, the
    attempt's reservation is released, since the call will not be placed."""
    now = _aware(now)
    blocked, num = await _stateless(request, dnc, now)
    if blocked is None:
        assert num is not None
        return await _audit(audit, request, "recheck", now, Decision.admitted(to_e164(num), request.attempt))
    if store is not None:
        await store.settle(request.attempt, Outcome.NOT_PLACED)
    return await _audit(audit, request, "recheck", now, blocked)


async def record_outcome(attempt: str, outcome: Outcome, *, store: CounterStore) -> bool:
    """Count what the call turned out to be: a conversation (a person answered the robot),
    a voice message, a machine, or nothing.  Returns False when the attempt holds no pending
    reservation (unknown, already settled, or admitted by a profile without counters), so a
    redelivered outcome never counts twice."""
    return await store.settle(attempt, outcome)


async def screen_contact(
    *,
    tenant: str,
    campaign: str,
    number: str,
    purpose: Purpose,
    consent: ConsentRecord | None,
    dnc: DncRegistry,
    audit: AuditLog,
    now: datetime,
    contact_key: str | None = None,
    default_region: str | None = None,
) -> Decision:
    """Import-time check: a valid number, not on a DNC list, with consent where required."""
    now = _aware(now)
    try:
        num = parse_number(number, default_region)
    except InvalidNumberError as e:
        d = Decision.blocked(Rule.INVALID_NUMBER, str(e))
    else:
        e164 = to_e164(num)
        hit = await dnc.check(e164, tenant)
        problem = consent_problem(purpose, consent, now)
        if hit is not None:
            d = Decision.blocked(Rule.DNC, f"{e164} is on the {hit.scope} do-not-call list", number=e164)
        elif problem is not None:
            d = Decision.blocked(Rule.NO_CONSENT, problem, number=e164)
        else:
            d = Decision.admitted(e164, None)
    await audit.append(
        AuditRecord(
            tenant=tenant,
            campaign=campaign,
            contact=contact_key or d.number or number,
            number=d.number or number,
            attempt="",
            at=now,
            phase="screen",
            decision="admitted" if d.allowed else "blocked",
            rule=d.rule.value if d.rule else None,
            status=d.status,
            detail=d.detail,
        )
    )
    _count("screen", d)
    return d
