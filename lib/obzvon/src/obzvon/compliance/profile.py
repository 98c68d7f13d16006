"""Compliance profiles: calling windows and interaction limits, loaded from data files.

A profile is data (``profiles/<name>.toml``), never code, so that a lawyer can read and review
it.  A tenant may only *narrow* a profile (:meth:`Profile.narrow`); every attempt to widen it
is rejected with :class:`ProfileWideningError` listing each offending field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any


class ProfileError(ValueError):
    """A profile file or a narrowing request is malformed."""


class ProfileWideningError(ProfileError):
    """A narrowing request would relax the base profile."""

    def __init__(self, profile: str, problems: list[str]) -> None:
        self.profile = profile
        self.problems = problems
        super().__init__(f"cannot widen profile {profile!r}: " + "; ".join(problems))


class UnknownProfileError(ProfileError):
    pass


class MissingProfileError(ProfileError):
    """A campaign asked to start without a compliance profile."""


class DayType(StrEnum):
    WEEKDAY = "weekday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class InteractionKind(StrEnum):
    CONVERSATION = "conversation"
    VOICE_MESSAGE = "voice_message"


@dataclass(frozen=True, slots=True)
class Window:
    """A local wall-clock interval ``[start, end]`` within one calendar day."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ProfileError(f"window {self} must start before it ends (no spanning midnight)")

    def contains(self, other: Window) -> bool:
        return self.start <= other.start and other.end <= self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


_WINDOW_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_window(text: str) -> Window:
    m = _WINDOW_RE.match(text)
    if not m:
        raise ProfileError(f"window {text!r} is not 'HH:MM-HH:MM'")
    sh, sm, eh, em = (int(g) for g in m.groups())
    if eh == 24 and em == 0:
        # 24:00 is the natural way to write "until midnight"; time() cannot hold it.
        end = time(23, 59, 59, 999999)
    else:
        end = _mk_time(eh, em, text)
    return Window(_mk_time(sh, sm, text), end)


def _mk_time(h: int, m: int, text: str) -> time:
    try:
        return time(h, m)
    except ValueError as e:
        raise ProfileError(f"window {text!r}: {e}") from None


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-debtor interaction limits for one interaction kind; ``None`` means unlimited."""

    day: int | None = None
    week: int | None = None
    month: int | None = None

    def get(self, period: Period) -> int | None:
        value: int | None = getattr(self, period.value)
        return value

    def is_unlimited(self) -> bool:
        return all(self.get(p) is None for p in Period)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    # A day type missing from the mapping (or mapped to None) admits no calls on such days.
    windows: Mapping[DayType, Window | None]
    limits: Mapping[InteractionKind, Limits] = field(default_factory=dict)
    min_ring_seconds: int = 0
    frequency_cap_per_day: int | None = 2
    # INVITEs a number may receive a day from all tenants together, answered or not.
    attempts_per_day: int | None = 3
    # Attempts per contact a campaign may ask for, and the least wait before ringing again after
    # busy or no answer: re-ringing at once is what a callee who could not pick up hates most.
    max_attempts: int = 3
    min_retry_delay_seconds: int = 600
    robot_call_is_conversation: bool = True
    # The disclosure must give a number the callee can call back (us-tcpa, 47 CFR 64.1200(b)(2)).
    callback_number_required: bool = False
    # Largest share of a campaign's answered calls over 30 days in which the callee heard no robot
    # audio within 2 s (us-tcpa: 3 %, 47 CFR 64.1200(a)(7)); past it the campaign pauses. None: no limit.
    max_abandonment_rate: float | None = None
    narrowed: bool = False

    def window_for(self, day_type: DayType) -> Window | None:
        return self.windows.get(day_type)

    def limits_for(self, kind: InteractionKind) -> Limits:
        return self.limits.get(kind, Limits())

    def has_interaction_limits(self) -> bool:
        return any(not lim.is_unlimited() for lim in self.limits.values())

    def narrow(self, overrides: Mapping[str, Any]) -> Profile:
        """Return this profile narrowed by a tenant.

        ``overrides`` has the shape of a profile file (``windows``, ``limits``,
        ``min_ring_seconds``, ``frequency_cap_per_day``); anything that would allow a call the
        base profile forbids raises :class:`ProfileWideningError`.
        """
        problems: list[str] = []
        allowed = {"windows", "limits", "min_ring_seconds", "frequency_cap_per_day"}
        for key in overrides:
            if key not in allowed:
                problems.append(f"{key!r} cannot be changed by a tenant")
        windows = dict(self.windows)
        for dt_name, raw in _table(overrides.get("windows", {}), "windows").items():
            dt = _day_type(dt_name)
            new = None if raw in (None, "", "none") else parse_window(_str(raw, f"windows.{dt_name}"))
            base = self.windows.get(dt)
            if new is not None and (base is None or not base.contains(new)):
                problems.append(f"windows.{dt} {new} is outside the profile's {base or 'no calls'}")
            windows[dt] = new
        limits = dict(self.limits)
        for kind_name, raw_lim in _table(overrides.get("limits", {}), "limits").items():
            kind = _kind(kind_name)
            base_lim = self.limits_for(kind)
            new_lim = _parse_limits(raw_lim, f"limits.{kind}", base=base_lim)
            for p in Period:
                b, n = base_lim.get(p), new_lim.get(p)
                if b is not None and (n is None or n > b):
                    problems.append(f"limits.{kind}.{p} {n if n is not None else 'unlimited'} exceeds {b}")
            limits[kind] = new_lim
        ring = self.min_ring_seconds
        if "min_ring_seconds" in overrides:
            ring = _int(overrides["min_ring_seconds"], "min_ring_seconds")
            if ring < self.min_ring_seconds:
                problems.append(f"min_ring_seconds {ring} is below {self.min_ring_seconds}")
        cap = self.frequency_cap_per_day
        if "frequency_cap_per_day" in overrides:
            cap = _int(overrides["frequency_cap_per_day"], "frequency_cap_per_day")
            if self.frequency_cap_per_day is not None and cap > self.frequency_cap_per_day:
                problems.append(f"frequency_cap_per_day {cap} exceeds {self.frequency_cap_per_day}")
        if problems:
            raise ProfileWideningError(self.name, problems)
        return replace(
            self,
            windows=MappingProxyType(windows),
            limits=MappingProxyType(limits),
            min_ring_seconds=ring,
            frequency_cap_per_day=cap,
            narrowed=True,
        )


def _table(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ProfileError(f"{where} must be a table")
    return raw


def _str(raw: object, where: str) -> str:
    if not isinstance(raw, str):
        raise ProfileError(f"{where} must be a string")
    return raw


def _int(raw: object, where: str) -> int:
    # bool is an int in Python; `true` as a limit is a typo, not 1.
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise ProfileError(f"{where} must be a non-negative integer")
    return raw


def _day_type(name: str) -> DayType:
    try:
        return DayType(name)
    except ValueError:
        raise ProfileError(f"unknown day type {name!r} (expected one of {[d.value for d in DayType]})") from None


def _kind(name: str) -> InteractionKind:
    try:
        return InteractionKind(name)
    except ValueError:
        kinds = [k.value for k in InteractionKind]
        raise ProfileError(f"unknown interaction kind {name!r} (expected one of {kinds})") from None


def _parse_limits(raw: object, where: str, base: Limits | None = None) -> Limits:
    table = _table(raw, where)
    values: dict[str, int | None] = {}
    for key, v in table.items():
        try:
            p = Period(key)
        except ValueError:
            raise ProfileError(f"{where}: unknown period {key!r}") from None
        values[p.value] = _int(v, f"{where}.{key}")
    if base is not None:
        # A tenant who only lowers the daily limit keeps the base weekly/monthly limits.
        for p in Period:
            values.setdefault(p.value, base.get(p))
    return Limits(**values)


def parse_profile(data: Mapping[str, Any]) -> Profile:
    known = {
        "name",
        "description",
        "windows",
        "limits",
        "min_ring_seconds",
        "frequency_cap_per_day",
        "attempts_per_day",
        "max_attempts",
        "min_retry_delay_seconds",
        "robot_call_is_conversation",
        "callback_number_required",
        "max_abandonment_rate",
    }
    unknown = set(data) - known
    if unknown:
        raise ProfileError(f"unknown profile keys {sorted(unknown)}")
    name = _str(data.get("name"), "name")
    windows: dict[DayType, Window | None] = {}
    for dt_name, raw in _table(data.get("windows", {}), "windows").items():
        windows[_day_type(dt_name)] = parse_window(_str(raw, f"windows.{dt_name}"))
    limits = {_kind(k): _parse_limits(v, f"limits.{k}") for k, v in _table(data.get("limits", {}), "limits").items()}
    cap_raw = data.get("frequency_cap_per_day", 2)
    robot = data.get("robot_call_is_conversation", True)
    if not isinstance(robot, bool):
        raise ProfileError("robot_call_is_conversation must be a boolean")
    callback_required = data.get("callback_number_required", False)
    if not isinstance(callback_required, bool):
        raise ProfileError("callback_number_required must be a boolean")
    abandonment = data.get("max_abandonment_rate")
    if abandonment is not None and (
        isinstance(abandonment, bool) or not isinstance(abandonment, int | float) or not 0 <= abandonment <= 1
    ):
        raise ProfileError("max_abandonment_rate must be a share between 0 and 1")
    return Profile(
        name=name,
        description=str(data.get("description", "")),
        windows=MappingProxyType(windows),
        limits=MappingProxyType(limits),
        min_ring_seconds=_int(data.get("min_ring_seconds", 0), "min_ring_seconds"),
        frequency_cap_per_day=_int(cap_raw, "frequency_cap_per_day"),
        attempts_per_day=_int(data.get("attempts_per_day", 3), "attempts_per_day"),
        max_attempts=_int(data.get("max_attempts", 3), "max_attempts"),
        min_retry_delay_seconds=_int(data.get("min_retry_delay_seconds", 600), "min_retry_delay_seconds"),
        robot_call_is_conversation=robot,
        callback_number_required=callback_required,
        max_abandonment_rate=None if abandonment is None else float(abandonment),
    )


def available_profiles() -> list[str]:
    root = resources.files(__package__).joinpath("profiles")
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml"))


@cache
def load_profile(name: str) -> Profile:
    """Load a built-in profile by name (``default``, ``us-tcpa``, ``ru-230fz``)."""
    if name not in available_profiles():
        raise UnknownProfileError(f"unknown compliance profile {name!r}; known: {available_profiles()}")
    text = resources.files(__package__).joinpath("profiles", f"{name}.toml").read_text("utf-8")
    profile = parse_profile(tomllib.loads(text))
    if profile.name != name:
        raise ProfileError(f"profile file {name}.toml declares name {profile.name!r}")
    return profile


def require_profile(name: str | None, overrides: Mapping[str, Any] | None = None) -> Profile:
    """Resolve a campaign's profile; a campaign without one must not start."""
    if not name:
        raise MissingProfileError("a campaign cannot start without a compliance profile")
    base = load_profile(name)
    return base.narrow(overrides) if overrides else base
