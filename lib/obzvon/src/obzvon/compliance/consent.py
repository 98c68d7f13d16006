"""Consent for advertising calls: only contacts imported with a consent record may be called."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Purpose(StrEnum):
    INFORMATIONAL = "informational"
    ADVERTISING = "advertising"


class ConsentError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """When, how (channel: web form, call recording, paper, ...) and where (source) consent was given."""

    given_at: datetime
    channel: str
    source: str
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.given_at.tzinfo is None:
            raise ConsentError("consent given_at must be timezone-aware")
        if not self.channel.strip():
            raise ConsentError("consent record needs a channel")
        if not self.source.strip():
            raise ConsentError("consent record needs a source")
        if self.revoked_at is not None and self.revoked_at.tzinfo is None:
            raise ConsentError("consent revoked_at must be timezone-aware")


def consent_required(purpose: Purpose) -> bool:
    return purpose is Purpose.ADVERTISING


def consent_problem(purpose: Purpose, consent: ConsentRecord | None, now: datetime) -> str | None:
    """Why this contact may not be called for ``purpose``; ``None`` when it may."""
    if not consent_required(purpose):
        return None
    if consent is None:
        return "advertising campaign and the contact has no consent record"
    if consent.given_at > now:
        return f"consent dated in the future ({consent.given_at.isoformat()})"
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return f"consent revoked at {consent.revoked_at.isoformat()}"
    return None
