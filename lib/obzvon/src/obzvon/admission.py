"""Glue between a DialRequest and the compliance rules, so the scheduler (admit) and the dialer
(recheck before INVITE) judge an attempt by exactly the same facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from obzvon.compliance import AdmissionRequest, ConsentRecord, Profile, Purpose, require_profile
from obzvon.compliance.profile import parse_window
from obzvon.v1 import campaigns_pb2, events_pb2

PURPOSES = {
    campaigns_pb2.PURPOSE_INFORMATIONAL: Purpose.INFORMATIONAL,
    campaigns_pb2.PURPOSE_ADVERTISING: Purpose.ADVERTISING,
}


def narrowed_profile(name: str, calling_hours: str = "") -> Profile:
    """The campaign's profile, with the tenant's calling hours intersected into every window.

    Intersection can only narrow, so a tenant never widens the law's window; ProfileError
    (a ValueError) for an unknown profile or malformed hours.
    """
    profile = require_profile(name)
    if not calling_hours:
        return profile
    hours = parse_window(calling_hours)
    windows: dict[str, str] = {}
    for day_type, base in profile.windows.items():
        start = max(base.start, hours.start) if base else None
        end = min(base.end, hours.end) if base else None
        windows[str(day_type)] = f"{start:%H:%M}-{end:%H:%M}" if start and end and start < end else "none"
    return profile.narrow({"windows": windows})


def consent_of(consent: campaigns_pb2.Consent) -> ConsentRecord | None:
    if not consent.HasField("time"):
        return None
    return ConsentRecord(given_at=consent.time.ToDatetime(tzinfo=UTC), channel=consent.channel, source=consent.source)


def admission_request(dial: events_pb2.DialRequest) -> AdmissionRequest:
    return AdmissionRequest(
        tenant=dial.tenant_id,
        campaign=f"{dial.tenant_id}/{dial.campaign_id}",
        attempt=dial.attempt_id,
        number=dial.phone_number,
        profile=narrowed_profile(dial.compliance_profile, dial.calling_hours),
        purpose=PURPOSES.get(dial.purpose, Purpose.ADVERTISING),  # unknown purpose: the strict rules
        caller_id=dial.caller_id,
        registered_caller_ids=list(dial.registered_caller_ids),
        expected_duration=timedelta(seconds=dial.expected_duration_seconds or 180),
        contact_key=dial.debtor_key or None,
        consent=consent_of(dial.consent),
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
