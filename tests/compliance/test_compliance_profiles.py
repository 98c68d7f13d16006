from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from obzvon.compliance import (
    DayType,
    InteractionKind,
    Limits,
    MissingProfileError,
    ProfileError,
    ProfileWideningError,
    UnknownProfileError,
    Window,
    available_profiles,
    load_profile,
    require_profile,
)


def test_builtin_profiles_are_package_data() -> None:
    assert {"default", "us-tcpa", "ru-230fz"} <= set(available_profiles())


def test_default_profile() -> None:
    p = load_profile("default")
    for dt in DayType:
        assert p.window_for(dt) == Window(time(9), time(21))
    assert p.frequency_cap_per_day == 2
    assert not p.has_interaction_limits()


def test_us_tcpa_profile() -> None:
    p = load_profile("us-tcpa")
    for dt in DayType:
        assert p.window_for(dt) == Window(time(8), time(21))
    assert p.min_ring_seconds == 15


def test_ru_230fz_profile() -> None:
    p = load_profile("ru-230fz")
    assert p.window_for(DayType.WEEKDAY) == Window(time(8), time(22))
    assert p.window_for(DayType.WEEKEND) == Window(time(9), time(20))
    assert p.window_for(DayType.HOLIDAY) == Window(time(9), time(20))
    assert p.limits_for(InteractionKind.CONVERSATION) == Limits(1, 2, 8)
    assert p.limits_for(InteractionKind.VOICE_MESSAGE) == Limits(2, 4, 16)
    assert p.robot_call_is_conversation


def test_campaign_needs_a_profile() -> None:
    with pytest.raises(MissingProfileError):
        require_profile(None)
    with pytest.raises(MissingProfileError):
        require_profile("")
    with pytest.raises(UnknownProfileError):
        require_profile("lawless")


def test_narrowing_accepted() -> None:
    base = load_profile("ru-230fz")
    p = require_profile(
        "ru-230fz",
        {
            "windows": {"weekday": "10:00-18:00", "weekend": "none"},
            "limits": {"conversation": {"day": 1, "week": 1}},
            "frequency_cap_per_day": 1,
            "min_ring_seconds": 20,
        },
    )
    assert p.narrowed and p.name == "ru-230fz"
    assert p.window_for(DayType.WEEKDAY) == Window(time(10), time(18))
    assert p.window_for(DayType.WEEKEND) is None
    assert p.window_for(DayType.HOLIDAY) == base.window_for(DayType.HOLIDAY)
    # Periods the tenant did not mention keep the base limit.
    assert p.limits_for(InteractionKind.CONVERSATION) == Limits(1, 1, 8)
    assert p.frequency_cap_per_day == 1 and p.min_ring_seconds == 20
    assert load_profile("ru-230fz") == base  # the cached base is untouched


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"windows": {"weekday": "07:00-22:00"}}, "windows.weekday 07:00-22:00"),
        ({"windows": {"weekend": "09:00-20:30"}}, "windows.weekend"),
        ({"limits": {"conversation": {"day": 2}}}, "limits.conversation.day 2 exceeds 1"),
        ({"limits": {"voice_message": {"month": 17}}}, "limits.voice_message.month"),
        ({"frequency_cap_per_day": 3}, "frequency_cap_per_day 3 exceeds 2"),
        ({"robot_call_is_conversation": False}, "'robot_call_is_conversation' cannot be changed"),
        ({"name": "mine"}, "'name' cannot be changed"),
    ],
)
def test_widening_rejected(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ProfileWideningError) as e:
        load_profile("ru-230fz").narrow(overrides)
    assert fragment in str(e.value)
    assert e.value.profile == "ru-230fz"


def test_widening_ring_time_rejected() -> None:
    with pytest.raises(ProfileWideningError, match="min_ring_seconds 10 is below 15"):
        load_profile("us-tcpa").narrow({"min_ring_seconds": 10})


def test_adding_limits_to_unlimited_profile_is_narrowing() -> None:
    p = load_profile("default").narrow({"limits": {"conversation": {"week": 3}}})
    assert p.limits_for(InteractionKind.CONVERSATION) == Limits(None, 3, None)


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ProfileWideningError) as e:
        load_profile("default").narrow({"windows": {"weekday": "06:00-23:00"}, "frequency_cap_per_day": 9})
    assert len(e.value.problems) == 2


@pytest.mark.parametrize(
    "overrides",
    [
        {"windows": {"weekday": "21:00-09:00"}},
        {"windows": {"weekday": "9-21"}},
        {"windows": {"someday": "10:00-11:00"}},
        {"limits": {"conversation": {"day": -1}}},
        {"limits": {"conversation": {"day": True}}},
        {"limits": {"sms": {"day": 1}}},
        {"limits": {"conversation": {"year": 1}}},
    ],
)
def test_malformed_narrowing(overrides: dict[str, object]) -> None:
    with pytest.raises(ProfileError):
        load_profile("ru-230fz").narrow(overrides)


minutes = st.integers(min_value=0, max_value=24 * 60 - 1)


@settings(max_examples=150, deadline=None)
@given(
    dt=st.sampled_from(list(DayType)),
    a=minutes,
    b=minutes,
    name=st.sampled_from(["default", "us-tcpa", "ru-230fz"]),
)
def test_window_narrowing_property(dt: DayType, a: int, b: int, name: str) -> None:
    lo, hi = sorted((a, b))
    if lo == hi:
        return
    text = f"{lo // 60:02d}:{lo % 60:02d}-{hi // 60:02d}:{hi % 60:02d}"
    base = load_profile(name)
    bw = base.window_for(dt)
    assert bw is not None
    new = Window(time(lo // 60, lo % 60), time(hi // 60, hi % 60))
    if bw.contains(new):
        assert base.narrow({"windows": {dt.value: text}}).window_for(dt) == new
    else:
        with pytest.raises(ProfileWideningError):
            base.narrow({"windows": {dt.value: text}})


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(list(InteractionKind)),
    day=st.integers(0, 40),
    week=st.integers(0, 40),
    month=st.integers(0, 40),
)
def test_limit_narrowing_property(kind: InteractionKind, day: int, week: int, month: int) -> None:
    base = load_profile("ru-230fz")
    bl = base.limits_for(kind)
    overrides = {"limits": {kind.value: {"day": day, "week": week, "month": month}}}
    if day <= (bl.day or 0) and week <= (bl.week or 0) and month <= (bl.month or 0):
        assert base.narrow(overrides).limits_for(kind) == Limits(day, week, month)
    else:
        with pytest.raises(ProfileWideningError):
            base.narrow(overrides)
