"""Calling windows in the callee's local time, derived from the number.

Every decision here fails closed: a number whose zone is unknown is never admitted, a number
that spans several zones is admitted only when the whole call fits the window in every one of
them, and a country whose public holidays we do not know gets the strictest window of the
profile on every day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
from phonenumbers.timezone import time_zones_for_number

from .profile import DayType, Profile, Window
from .rules import Rule

# How far ahead next_window_open looks before concluding that a profile never opens.
_HORIZON_DAYS = 400
_UNKNOWN_ZONE = "Etc/Unknown"


class InvalidNumberError(ValueError):
    pass


class UnknownTimeZoneError(ValueError):
    pass


def parse_number(raw: str | phonenumbers.PhoneNumber, default_region: str | None = None) -> phonenumbers.PhoneNumber:
    """Parse and validate a number that is about to be called."""
    if isinstance(raw, phonenumbers.PhoneNumber):
        num = raw
    else:
        try:
            num = phonenumbers.parse(raw, default_region)
        except phonenumbers.NumberParseException as e:
            raise InvalidNumberError(f"{raw!r}: {e}") from None
    if not phonenumbers.is_valid_number(num):
        raise InvalidNumberError(f"{raw!r} is not a valid phone number")
    return num


def to_e164(num: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def zones_for_number(num: phonenumbers.PhoneNumber) -> tuple[ZoneInfo, ...]:
    names = time_zones_for_number(num)
    if not names or _UNKNOWN_ZONE in names:
        raise UnknownTimeZoneError(f"no time zone known for {to_e164(num)}")
    try:
        return tuple(_zone(n) for n in names)
    except ZoneInfoNotFoundError as e:
        raise UnknownTimeZoneError(f"time zone of {to_e164(num)} missing from tzdata: {e}") from None


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def country_of(num: phonenumbers.PhoneNumber) -> str | None:
    region = phonenumbers.region_code_for_number(num)
    return region if region and region != "001" and region != "ZZ" else None


@cache
def _calendar(country: str | None) -> holidays.HolidayBase | None:
    if country is None:
        return None
    try:
        return holidays.country_holidays(country)
    except NotImplementedError:
        return None


@lru_cache(maxsize=65536)
def day_type(country: str | None, day: date) -> DayType | None:
    """Public holiday, weekend (the country's own weekend, moved working days respected) or
    weekday; ``None`` when the country's calendar is unknown."""
    cal = _calendar(country)
    if cal is None:
        return None
    if day in cal:
        return DayType.HOLIDAY
    return DayType.WEEKDAY if cal.is_working_day(day) else DayType.WEEKEND


def window_for_day(profile: Profile, country: str | None, day: date) -> Window | None:
    dt = day_type(country, day)
    if dt is not None:
        return profile.window_for(dt)
    # Unknown calendar: any day might be a holiday or a weekend, so only the intersection of
    # all the profile's windows is safe.
    windows = [profile.window_for(d) for d in DayType]
    if any(w is None for w in windows):
        return None
    start = max(w.start for w in windows if w is not None)
    end = min(w.end for w in windows if w is not None)
    return Window(start, end) if start < end else None


def _bounds(day: date, w: Window, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which the window opens and closes on ``day`` in ``zone``.

    A wall time that is ambiguous (fall-back) or missing (spring-forward) has two readings;
    taking the later opening and the earlier closing keeps the window inside the law's.
    """
    opens = (datetime.combine(day, w.start, tzinfo=zone).replace(fold=f).astimezone(UTC) for f in (0, 1))
    closes = (datetime.combine(day, w.end, tzinfo=zone).replace(fold=f).astimezone(UTC) for f in (0, 1))
    return max(opens), min(closes)


def _zone_fit(
    profile: Profile, country: str | None, zone: ZoneInfo, t: datetime, duration: timedelta
) -> datetime | None:
    """Earliest ``s >= t`` with ``[s, s + duration]`` inside one window in ``zone``."""
    day = t.astimezone(zone).date()
    for _ in range(_HORIZON_DAYS):
        w = window_for_day(profile, country, day)
        if w is not None:
            open_, close = _bounds(day, w, zone)
            s = max(t, open_)
            if s + duration <= close and s < close:
                return s
        day += timedelta(days=1)
    return None


@dataclass(frozen=True, slots=True)
class WindowVerdict:
    ok: bool
    rule: Rule | None = None
    detail: str = ""
    retry_at: datetime | None = None


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("compliance needs timezone-aware datetimes")
    return t.astimezone(UTC)


def check_window(
    number: str | phonenumbers.PhoneNumber,
    profile: Profile,
    at: datetime,
    duration: timedelta = timedelta(0),
) -> WindowVerdict:
    """Is a call admitted at ``at`` and expected to last ``duration`` inside the window?"""
    num = parse_number(number)
    zones = zones_for_number(num)
    country = country_of(num)
    at = _utc(at)
    for zone in zones:
        if _zone_fit(profile, country, zone, at, duration) == at:
            continue
        local = at.astimezone(zone)
        dt = day_type(country, local.date())
        w = window_for_day(profile, country, local.date())
        rule = Rule.OUTSIDE_WINDOW
        weekday_w = profile.window_for(DayType.WEEKDAY)
        if dt is DayType.HOLIDAY and weekday_w is not None:
            # Name the holiday only when it is the reason: the call would fit a working day.
            open_, close = _bounds(local.date(), weekday_w, zone)
            if open_ <= at and at + duration <= close:
                rule = Rule.HOLIDAY_WINDOW
        kind = dt.value if dt is not None else "day (holiday calendar unknown)"
        detail = (
            f"{local:%Y-%m-%d %H:%M} {zone.key} is a {kind}; window {w or 'closed'}; "
            f"call of {int(duration.total_seconds())} s must end by the window's close"
        )
        return WindowVerdict(False, rule, detail, next_open_in_zones(profile, country, zones, at, duration))
    return WindowVerdict(True)


def next_window_open(
    number: str | phonenumbers.PhoneNumber,
    profile: Profile,
    after: datetime,
    duration: timedelta = timedelta(0),
) -> datetime | None:
    """Earliest instant ``>= after`` at which a call of ``duration`` fits the window in every
    zone of ``number``; ``None`` when the profile never opens for it within about a year.

    Raises InvalidNumberError / UnknownTimeZoneError: such a number has no window at all.
    """
    num = parse_number(number)
    return next_open_in_zones(profile, country_of(num), zones_for_number(num), _utc(after), duration)


def next_open_in_zones(
    profile: Profile, country: str | None, zones: Iterable[ZoneInfo], t: datetime, duration: timedelta
) -> datetime | None:
    zones = tuple(zones)
    limit = t + timedelta(days=_HORIZON_DAYS)
    # Each zone proposes its earliest fit at or after t; moving t to the latest proposal and
    # asking again converges because proposals never go backwards.
    while t <= limit:
        fits = [_zone_fit(profile, country, z, t, duration) for z in zones]
        if any(f is None for f in fits):
            return None
        latest = max(f for f in fits if f is not None)
        if latest == t:
            return t
        t = latest
    return None
