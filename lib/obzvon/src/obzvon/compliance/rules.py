"""The names of the rules that can hold a contact back; a blocked status is ``blocked: <rule>``."""

from __future__ import annotations

from enum import StrEnum


class Rule(StrEnum):
    INVALID_NUMBER = "invalid number"
    DNC = "DNC"
    NO_CONSENT = "no consent"
    CALLER_ID_NOT_REGISTERED = "caller id not registered"
    UNKNOWN_TIME_ZONE = "unknown time zone"
    OUTSIDE_WINDOW = "outside window"
    HOLIDAY_WINDOW = "holiday window"
    FZ230_DAILY = "230-FZ daily limit"
    FZ230_WEEKLY = "230-FZ weekly limit"
    FZ230_MONTHLY = "230-FZ monthly limit"
    FREQUENCY_CAP = "frequency cap"
    DAILY_ATTEMPT_CAP = "daily attempt cap"

    @property
    def status(self) -> str:
        return f"blocked: {self.value}"


ADMITTED = "admitted"
