from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from compliance_oracle import inside_everywhere
from obzvon.compliance import (
    DayType,
    Rule,
    UnknownTimeZoneError,
    Window,
    check_window,
    day_type,
    load_profile,
    next_window_open,
    parse_number,
    zones_for_number,
)
from obzvon.compliance.windows import window_for_day

NY = "+12125551234"  # America/New_York
LONDON = "+442079460000"  # Europe/London
BERLIN = "+493012345678"  # Europe/Berlin
VLADIVOSTOK = "+74232123456"  # Asia/Vladivostok (UTC+10, no DST)
MOSCOW = "+74951234567"  # Europe/Moscow (UTC+3)
RU_MOBILE = "+79161234567"  # spans every Russian zone plus a few more
US_TOLL_FREE = "+18005551234"  # spans Guam to Pago Pago
NON_GEO = "+80012345678"  # international freephone: no zone at all

TWO_MIN = timedelta(minutes=2)
tcpa = load_profile("us-tcpa")
default = load_profile("default")
fz = load_profile("ru-230fz")


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def test_zones() -> None:
    assert [z.key for z in zones_for_number(parse_number(NY))] == ["America/New_York"]
    assert len(zones_for_number(parse_number(RU_MOBILE))) > 5
    assert {"Pacific/Guam", "Pacific/Pago_Pago"} <= {z.key for z in zones_for_number(parse_number(US_TOLL_FREE))}
    with pytest.raises(UnknownTimeZoneError):
        zones_for_number(parse_number(NON_GEO))


# US spring forward: 2024-03-10 02:00 EST -> 03:00 EDT.  08:00 local is 13:00 UTC the day
# before and 12:00 UTC on the day.
@pytest.mark.parametrize(
    ("at", "ok"),
    [
        (utc(2024, 3, 9, 12, 59), False),
        (utc(2024, 3, 9, 13, 0), True),
        (utc(2024, 3, 10, 11, 59), False),
        (utc(2024, 3, 10, 12, 0), True),
        # US fall back: 2024-11-03 02:00 EDT -> 01:00 EST; 08:00 local is 13:00 UTC.
        (utc(2024, 11, 2, 12, 0), True),
        (utc(2024, 11, 3, 12, 30), False),
        (utc(2024, 11, 3, 13, 0), True),
        # 21:00 EST is 02:00 UTC next day; a 2 min call must start by 01:58.
        (utc(2024, 11, 4, 1, 58), True),
        (utc(2024, 11, 4, 1, 59), False),
    ],
)
def test_us_dst(at: datetime, ok: bool) -> None:
    assert check_window(NY, tcpa, at, TWO_MIN).ok is ok
    assert inside_everywhere(NY, tcpa, at, TWO_MIN) is ok


def test_next_open_across_us_spring_forward() -> None:
    # 21:00 EST on the eve of the change; next opening is 08:00 EDT = 12:00 UTC.
    assert next_window_open(NY, tcpa, utc(2024, 3, 10, 2, 0), TWO_MIN) == utc(2024, 3, 10, 12, 0)
    assert next_window_open(NY, tcpa, utc(2024, 11, 3, 2, 0), TWO_MIN) == utc(2024, 11, 3, 13, 0)


# EU: London 2024-03-31 GMT -> BST; Berlin 2024-10-27 CEST -> CET.
@pytest.mark.parametrize(
    ("number", "at", "ok"),
    [
        (LONDON, utc(2024, 3, 30, 8, 59), False),
        (LONDON, utc(2024, 3, 30, 9, 0), True),
        (LONDON, utc(2024, 3, 31, 7, 59), False),
        (LONDON, utc(2024, 3, 31, 8, 0), True),
        (LONDON, utc(2024, 3, 31, 19, 58), True),
        (LONDON, utc(2024, 3, 31, 19, 59), False),
        (BERLIN, utc(2024, 10, 26, 7, 0), True),
        (BERLIN, utc(2024, 10, 27, 7, 0), False),
        (BERLIN, utc(2024, 10, 27, 8, 0), True),
        (BERLIN, utc(2024, 10, 27, 19, 58), True),
        (BERLIN, utc(2024, 10, 27, 19, 59), False),
    ],
)
def test_eu_dst(number: str, at: datetime, ok: bool) -> None:
    assert check_window(number, default, at, TWO_MIN).ok is ok
    assert inside_everywhere(number, default, at, TWO_MIN) is ok


def test_expected_end_must_be_inside() -> None:
    # Moscow 20:58 local on a Tuesday; default closes at 21:00.
    at = utc(2024, 3, 5, 17, 58)
    assert check_window(MOSCOW, default, at, TWO_MIN).ok
    v = check_window(MOSCOW, default, at, timedelta(minutes=3))
    assert not v.ok and v.rule is Rule.OUTSIDE_WINDOW
    assert v.retry_at == utc(2024, 3, 6, 6, 0)  # 09:00 Moscow next day


def test_midnight_is_not_a_window_edge_to_cross() -> None:
    # A window never spans midnight: 23:59 -> 00:01 is outside.
    at = utc(2024, 3, 5, 20, 59)  # 23:59 Moscow
    assert not check_window(MOSCOW, default, at, TWO_MIN).ok
    assert not check_window(MOSCOW, fz, at, TWO_MIN).ok


def test_multi_zone_number_needs_every_zone() -> None:
    # 13:00 UTC: fine in New York (09:00 EDT) but 03:00 in Honolulu and 23:00 in Guam.
    at = utc(2024, 6, 4, 13, 0)
    assert check_window(NY, tcpa, at, TWO_MIN).ok
    v = check_window(US_TOLL_FREE, tcpa, at, TWO_MIN)
    assert not v.ok and v.retry_at is not None
    assert check_window(US_TOLL_FREE, tcpa, v.retry_at, TWO_MIN).ok
    assert inside_everywhere(US_TOLL_FREE, tcpa, v.retry_at, TWO_MIN)
    assert not inside_everywhere(US_TOLL_FREE, tcpa, v.retry_at - timedelta(minutes=1), TWO_MIN)


def test_multi_zone_ru_mobile() -> None:
    # Weekday 08:00-22:00 in Kaliningrad..Anadyr: only a few hours of UTC morning fit.
    nxt = next_window_open(RU_MOBILE, fz, utc(2024, 3, 5, 12, 0), TWO_MIN)
    assert nxt is not None and inside_everywhere(RU_MOBILE, fz, nxt, TWO_MIN)
    assert not check_window(RU_MOBILE, fz, utc(2024, 3, 5, 12, 0), TWO_MIN).ok


def test_ru_holidays_and_weekends() -> None:
    # 2024-01-01 (Monday, New Year holiday) 08:30 Vladivostok: holiday window opens at 09:00.
    v = check_window(VLADIVOSTOK, fz, utc(2023, 12, 31, 22, 30), TWO_MIN)
    assert not v.ok and v.rule is Rule.HOLIDAY_WINDOW
    assert v.retry_at == utc(2023, 12, 31, 23, 0)
    # Saturday 2024-03-02 08:30 local: weekend window.
    v = check_window(VLADIVOSTOK, fz, utc(2024, 3, 1, 22, 30), TWO_MIN)
    assert not v.ok and v.rule is Rule.OUTSIDE_WINDOW
    # Saturday 2024-04-27 was a working day in Russia (moved for the May holidays).
    assert day_type("RU", date(2024, 4, 27)) is DayType.WEEKDAY
    assert check_window(VLADIVOSTOK, fz, utc(2024, 4, 26, 22, 30), TWO_MIN).ok
    # Weekday 21:30 is fine, weekend 20:30 is not.
    assert check_window(VLADIVOSTOK, fz, utc(2024, 3, 5, 11, 30), TWO_MIN).ok
    assert not check_window(VLADIVOSTOK, fz, utc(2024, 3, 2, 10, 30), TWO_MIN).ok


def test_unknown_calendar_takes_the_strictest_window() -> None:
    assert window_for_day(fz, None, date(2024, 3, 5)) == Window(time(9), time(20))
    narrowed = fz.narrow({"windows": {"holiday": "none"}})
    assert window_for_day(narrowed, None, date(2024, 3, 5)) is None


def test_unknown_zone_fails_closed() -> None:
    with pytest.raises(UnknownTimeZoneError):
        check_window(NON_GEO, default, utc(2024, 3, 5, 12), TWO_MIN)
    with pytest.raises(UnknownTimeZoneError):
        next_window_open(NON_GEO, default, utc(2024, 3, 5, 12), TWO_MIN)


def test_profile_that_never_opens() -> None:
    closed = default.narrow({"windows": {"weekday": "none", "weekend": "none", "holiday": "none"}})
    assert next_window_open(NY, closed, utc(2024, 3, 5, 12), TWO_MIN) is None
    assert check_window(NY, closed, utc(2024, 3, 5, 15), TWO_MIN).retry_at is None


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError):
        check_window(NY, default, datetime(2024, 3, 5, 12), TWO_MIN)


def test_holiday_named_only_when_it_is_the_reason() -> None:
    # 2024-01-01 23:00 Vladivostok: closed on any day, so plain "outside window".
    v = check_window(VLADIVOSTOK, fz, utc(2024, 1, 1, 13, 0), TWO_MIN)
    assert v.rule is Rule.OUTSIDE_WINDOW
    # 21:00 on the holiday: a working day would allow it.
    v = check_window(VLADIVOSTOK, fz, utc(2024, 1, 1, 11, 0), TWO_MIN)
    assert v.rule is Rule.HOLIDAY_WINDOW
