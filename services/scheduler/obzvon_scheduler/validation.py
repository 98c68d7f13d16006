"""Input checks of the public API; each problem names the field it is about."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from obzvon.admission import narrowed_profile
from obzvon.compliance import ProfileError, available_profiles, load_profile
from obzvon.errors import FieldViolation
from obzvon.limits import (
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    MAX_RETRY_DELAY_SECONDS,
    MAX_VARIABLE_KEY_CHARS,
    MAX_VARIABLE_VALUE_CHARS,
    MAX_VARIABLES,
)
from obzvon.script import validate_script
from obzvon.sip.trunk import check_trunk
from obzvon.v1 import campaigns_pb2, tenants_pb2
from obzvon.voices import LANGUAGES, VOICES

ID_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
CONTACT_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
REGION_RE = re.compile(r"^[A-Za-z]{2}$")
MAX_CALLER_IDS = 20


def check_length(value: str, field: str, limit: int = MAX_NAME_CHARS) -> list[FieldViolation]:
    if len(value) > limit:
        return [FieldViolation(field, f"at most {limit} characters")]
    return []


def check_id(value: str, field: str) -> list[FieldViolation]:
    if not ID_RE.match(value):
        return [FieldViolation(field, "use 2-63 lowercase letters, digits and dashes, starting with a letter")]
    return []


def to_e164(number: str, region: str) -> str:
    """E.164 form of a number; ValueError with a reason a person can act on."""
    if not number.strip():
        raise ValueError("missing phone number")
    if len(number) > MAX_PHONE_CHARS:
        raise ValueError(f"a phone number has at most {MAX_PHONE_CHARS} characters")
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
    problems.extend(check_length(tenant.display_name, "tenant.display_name"))
    if len(tenant.caller_ids) > MAX_CALLER_IDS:
        return [*problems, FieldViolation("tenant.caller_ids", f"at most {MAX_CALLER_IDS} caller ids")]
    if not tenant.caller_ids:
        problems.append(FieldViolation("tenant.caller_ids", "register at least one caller id"))
    for i, caller_id in enumerate(tenant.caller_ids):
        try:
            to_e164(caller_id, "")
        except ValueError as e:
            problems.append(FieldViolation(f"tenant.caller_ids[{i}]", f"{e}; use E.164 (+7...)"))
    if tenant.max_concurrent_calls < 0:
        problems.append(FieldViolation("tenant.max_concurrent_calls", "must not be negative"))
    if tenant.max_contacts_per_campaign < 0:
        problems.append(FieldViolation("tenant.max_contacts_per_campaign", "must not be negative"))
    return problems


def check_campaign(
    campaign_id: str, campaign: campaigns_pb2.Campaign, tenant: tenants_pb2.Tenant
) -> list[FieldViolation]:
    problems = check_id(campaign_id, "campaign_id")
    if not campaign.display_name.strip():
        problems.append(FieldViolation("campaign.display_name", "required"))
    problems.extend(check_length(campaign.display_name, "campaign.display_name"))
    problems.extend(check_length(campaign.calling_hours, "campaign.calling_hours", 32))
    if campaign.purpose == campaigns_pb2.PURPOSE_UNSPECIFIED:
        problems.append(FieldViolation("campaign.purpose", "say whether the campaign is informational or advertising"))
    if campaign.language not in LANGUAGES:
        problems.append(FieldViolation("campaign.language", f"one of {', '.join(LANGUAGES)}"))
    elif campaign.voice and VOICES.get(campaign.voice) != campaign.language:
        # An unknown voice used to give answered calls with seconds of silence and no disclosure.
        known = ", ".join(v for v, lang in VOICES.items() if lang == campaign.language)
        problems.append(FieldViolation("campaign.voice", f"one of the {campaign.language} voices: {known}"))
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
    problems.extend(check_trunk(campaign.trunk, "campaign.trunk"))
    problems.extend(check_callback_number(campaign))
    if campaign.max_concurrent_calls < 0:
        problems.append(FieldViolation("campaign.max_concurrent_calls", "must not be negative"))
    problems.extend(check_retries(campaign))
    problems.extend(validate_script(campaign.script, "campaign.script"))
    return problems


def check_retries(campaign: campaigns_pb2.Campaign) -> list[FieldViolation]:
    """Attempts per contact within the profile's maximum; a retry delay that is a delay.

    The profile's least delay after busy or no answer is applied when the retry is scheduled
    (outcomes.retry_delay_s), so a shorter delay here still serves dialer-lost retries."""
    problems: list[FieldViolation] = []
    most = (
        load_profile(campaign.compliance_profile).max_attempts
        if campaign.compliance_profile in available_profiles()
        else 1
    )
    if not 0 <= campaign.max_attempts <= most:
        problems.append(FieldViolation("campaign.max_attempts", f"from 1 to {most} under this profile (0 means 1)"))
    if not 0 <= campaign.retry_delay_seconds <= MAX_RETRY_DELAY_SECONDS:
        problems.append(FieldViolation("campaign.retry_delay_seconds", f"from 0 to {MAX_RETRY_DELAY_SECONDS}"))
    return problems


def check_callback_number(campaign: campaigns_pb2.Campaign) -> list[FieldViolation]:
    """The number the disclosure gives the callee: E.164 when set, required where the profile says so."""
    if campaign.callback_number:
        try:
            to_e164(campaign.callback_number, "")
        except ValueError as e:
            return [FieldViolation("campaign.callback_number", f"{e}; use E.164 (+1...)")]
        return []
    profile = campaign.compliance_profile
    if profile in available_profiles() and load_profile(profile).callback_number_required:
        why = "the disclosure tells the callee how to call back"
        return [FieldViolation("campaign.callback_number", f"required by the {profile} profile: {why}")]
    return []


def check_contact(
    contact: campaigns_pb2.Contact, row: int, script_variables: set[str], default_region: str
) -> tuple[campaigns_pb2.Contact | None, list[FieldViolation]]:
    """A normalised copy of the contact, or the problems that keep it out (row is 1-based).

    Every field is bounded so one row can never make a DialRequest too big for Kafka; the status and
    the attempt count are the platform's, so whatever the client sent there is dropped."""
    where = f"contacts[{row}]"
    problems: list[FieldViolation] = []
    out = campaigns_pb2.Contact()
    out.CopyFrom(contact)
    if contact.region and not REGION_RE.match(contact.region):
        problems.append(FieldViolation(f"{where}.region", "a two-letter ISO region, e.g. RU"))
    else:
        try:
            out.phone_number = to_e164(contact.phone_number, contact.region or default_region)
        except ValueError as e:
            problems.append(FieldViolation(f"{where}.phone_number", str(e)))
    if contact.contact_id and not CONTACT_ID_RE.match(contact.contact_id):
        problems.append(FieldViolation(f"{where}.contact_id", "use up to 64 letters, digits, '_', '.', '-'"))
    problems.extend(check_length(contact.debtor_key, f"{where}.debtor_key"))
    problems.extend(check_length(contact.consent.channel, f"{where}.consent.channel"))
    problems.extend(check_length(contact.consent.source, f"{where}.consent.source"))
    problems.extend(check_variables(contact, where, script_variables))
    if not out.contact_id:
        out.contact_id = f"row-{row}"
    out.status = "queued"
    out.attempts = 0
    return (None, problems) if problems else (out, [])


def check_variables(contact: campaigns_pb2.Contact, where: str, script_variables: set[str]) -> list[FieldViolation]:
    variables = contact.variables
    if len(variables) > MAX_VARIABLES:
        return [FieldViolation(f"{where}.variables", f"at most {MAX_VARIABLES} variables")]
    problems: list[FieldViolation] = []
    for name, value in variables.items():
        if len(name) > MAX_VARIABLE_KEY_CHARS:
            problems.append(
                FieldViolation(f"{where}.variables", f"names of at most {MAX_VARIABLE_KEY_CHARS} characters")
            )
        elif len(value) > MAX_VARIABLE_VALUE_CHARS:
            problems.append(
                FieldViolation(f"{where}.variables.{name}", f"at most {MAX_VARIABLE_VALUE_CHARS} characters")
            )
    for name in sorted(script_variables - set(variables)):
        problems.append(FieldViolation(f"{where}.variables.{name}", "the script uses this variable"))
    return problems


@dataclass(frozen=True)
class CheckedContact:
    row: int
    contact: campaigns_pb2.Contact


@dataclass(frozen=True)
class CheckedContacts:
    accepted: list[CheckedContact]
    problems: list[FieldViolation]


def check_contacts(
    contacts: Iterable[campaigns_pb2.Contact], first_row: int, script_variables: set[str], default_region: str
) -> CheckedContacts:
    """check_contact for one message of an upload, rows numbered from first_row."""
    accepted: list[CheckedContact] = []
    problems: list[FieldViolation] = []
    for row, contact in enumerate(contacts, start=first_row):
        normalised, bad = check_contact(contact, row, script_variables, default_region)
        problems.extend(bad)
        if normalised is not None:
            accepted.append(CheckedContact(row, normalised))
    return CheckedContacts(accepted, problems)
