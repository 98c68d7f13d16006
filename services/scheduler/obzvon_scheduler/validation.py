"""Input checks of the public API; each problem names the field it is about."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import phonenumbers
from obzvon.admission import narrowed_profile
from obzvon.compliance import ProfileError, available_profiles
from obzvon.errors import FieldViolation
from obzvon.script import script_variables, validate_script
from obzvon.v1 import campaigns_pb2, tenants_pb2

ID_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
LANGUAGES = ("ru", "en")


def check_id(value: str, field: str) -> list[FieldViolation]:
    if not ID_RE.match(value):
        return [FieldViolation(field, "use 2-63 lowercase letters, digits and dashes, starting with a letter")]
    return []


def to_e164(number: str, region: str) -> str:
    """E.164 form of a number; ValueError with a reason a person can act on."""
    if not number.strip():
        raise ValueError("missing phone number")
    try:
        parsed = phonenumbers.parse(number, region or None)
    except phonenumbers.NumberParseException as e:
        raise ValueError(f'"{number}" is not a phone number ({e._msg})') from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f'"{number}" is not a valid number for {region or "its country code"}')
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def check_tenant(tenant_id: str, tenant: tenants_pb2.Tenant) -> list[FieldViolation]:
    problems = check_id(tenant_id, "tenant_id")
    if not tenant.display_name.strip():
        problems.append(FieldViolation("tenant.display_name", "required: callees hear it at the start of every call"))
    if not tenant.caller_ids:
        problems.append(FieldViolation("tenant.caller_ids", "register at least one caller id"))
    for i, caller_id in enumerate(tenant.caller_ids):
        try:
            to_e164(caller_id, "")
        except ValueError as e:
            problems.append(FieldViolation(f"tenant.caller_ids[{i}]", f"{e}; use E.164 (+7...)"))
    if tenant.max_concurrent_calls < 0:
        problems.append(FieldViolation("tenant.max_concurrent_calls", "must not be negative"))
    return problems


def check_campaign(
    campaign_id: str, campaign: campaigns_pb2.Campaign, tenant: tenants_pb2.Tenant
) -> list[FieldViolation]:
    problems = check_id(campaign_id, "campaign_id")
    if not campaign.display_name.strip():
        problems.append(FieldViolation("campaign.display_name", "required"))
    if campaign.purpose == campaigns_pb2.PURPOSE_UNSPECIFIED:
        problems.append(FieldViolation("campaign.purpose", "say whether the campaign is informational or advertising"))
    if campaign.language not in LANGUAGES:
        problems.append(FieldViolation("campaign.language", f"one of {', '.join(LANGUAGES)}"))
    if campaign.compliance_profile not in available_profiles():
        problems.append(
            FieldViolation("campaign.compliance_profile", f"required, one of {', '.join(available_profiles())}")
        )
    else:
        try:
            narrowed_profile(campaign.compliance_profile, campaign.calling_hours)
        except ProfileError as e:
            problems.append(FieldViolation("campaign.calling_hours", f"{e}; use HH:MM-HH:MM"))
    registered = {to_e164(c, "") for c in tenant.caller_ids}
    try:
        if to_e164(campaign.caller_id, "") not in registered:
            problems.append(FieldViolation("campaign.caller_id", "not one of the tenant's registered caller ids"))
    except ValueError as e:
        problems.append(FieldViolation("campaign.caller_id", str(e)))
    problems.extend(check_trunk_uri(campaign.trunk_uri))
    if campaign.max_concurrent_calls < 0:
        problems.append(FieldViolation("campaign.max_concurrent_calls", "must not be negative"))
    if campaign.max_attempts < 0 or campaign.max_attempts > 10:
        problems.append(FieldViolation("campaign.max_attempts", "between 1 and 10 (0 means 1)"))
    problems.extend(validate_script(campaign.script, "campaign.script"))
    return problems


def check_trunk_uri(uri: str) -> list[FieldViolation]:
    if "{number}" not in uri or not uri.startswith("sip:"):
        return [FieldViolation("campaign.trunk_uri", 'a sip: URI with {number}, e.g. "sip:{number}@127.0.0.1:5070"')]
    host = urlparse("//" + uri.removeprefix("sip:").split("@", 1)[-1]).hostname
    if not host:
        return [FieldViolation("campaign.trunk_uri", "missing host")]
    return []


def check_contact(
    contact: campaigns_pb2.Contact, row: int, campaign: campaigns_pb2.Campaign, default_region: str
) -> tuple[campaigns_pb2.Contact | None, list[FieldViolation]]:
    """A normalised copy of the contact, or the problems that keep it out (row is 1-based)."""
    where = f"contacts[{row}]"
    problems: list[FieldViolation] = []
    out = campaigns_pb2.Contact()
    out.CopyFrom(contact)
    try:
        out.phone_number = to_e164(contact.phone_number, contact.region or default_region)
    except ValueError as e:
        problems.append(FieldViolation(f"{where}.phone_number", str(e)))
    if contact.contact_id and not re.match(r"^[A-Za-z0-9_.-]{1,64}$", contact.contact_id):
        problems.append(FieldViolation(f"{where}.contact_id", "use up to 64 letters, digits, '_', '.', '-'"))
    for name in sorted(script_variables(campaign.script) - set(contact.variables)):
        problems.append(FieldViolation(f"{where}.variables.{name}", "the script uses this variable"))
    if not out.contact_id:
        out.contact_id = f"row-{row}"
    out.status = "queued"
    return (None, problems) if problems else (out, [])
