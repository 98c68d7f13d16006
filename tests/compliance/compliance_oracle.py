"""Independent re-statement of the window rule for tests: plain wall-clock conversion into every
zone of the number, no shared code with obzvon.compliance.windows."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from obzvon.compliance import DayType, Profile, Window
from phonenumbers.timezone import time_zones_for_number


def _day_type(region: str | None, d: date) -> DayType | None:
    if region is None or region == "001":
        return None
    try:
        cal = holidays.country_holidays(region)
    except NotImplementedError:
        return None
    if d in cal:
        return DayType.HOLIDAY
    return DayType.WEEKDAY if cal.is_working_day(d) else DayType.WEEKEND


def _window(profile: Profile, region: str | None, d: date) -> Window | None:
    dt = _day_type(region, d)
    if dt is not None:
        return profile.window_for(dt)
    ws = [profile.window_for(t) for t in DayType]
    if any(w is None for w in ws):
        return None
    start = max(w.start for w in ws if w)
    end = min(w.end for w in ws if w)
    return Window(start, end) if start < end else None


def inside_everywhere(number: str, profile: Profile, start: datetime, duration: timedelta) -> bool:
    num = phonenumbers.parse(number)
    names = time_zones_for_number(num)
    if not names or "Etc/Unknown" in names:
        return False
    region = phonenumbers.region_code_for_number(num)
    end = start + duration
    for name in names:
        z = ZoneInfo(name)
        ls, le = start.astimezone(z), end.astimezone(z)
        w = _window(profile, region, ls.date())
        if w is None or le.date() != ls.date():
            return False
        if not (w.start <= ls.time().replace(tzinfo=None) and le.time().replace(tzinfo=None) <= w.end):
            return False
        if ls.time() >= w.end:
            return False
    return True


def local_dates(number: str, at: datetime) -> set[date]:
    num = phonenumbers.parse(number)
    return {at.astimezone(ZoneInfo(n)).date() for n in time_zones_for_number(num)}
