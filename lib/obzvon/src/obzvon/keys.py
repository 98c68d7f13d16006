"""Every Redis key the platform writes, in one place (state layout is in docs/architecture.md)."""

from __future__ import annotations


def api_key(digest: str) -> str:
    """The tenant id a live API key (by its SHA-256) belongs to."""
    return f"apikey:{digest}"


def api_keys(tenant_id: str) -> str:
    """Hash key id -> JSON {digest, create time} of the tenant's live API keys."""
    return f"apikeys:{tenant_id}"


def tenant(tenant_id: str) -> str:
    return f"tenant:{tenant_id}"


def campaign(tenant_id: str, campaign_id: str) -> str:
    return f"campaign:{tenant_id}:{campaign_id}"


def campaigns(tenant_id: str) -> str:
    """Sorted set of the tenant's campaign ids by creation time."""
    return f"campaigns:{tenant_id}"


def api_rate(tenant_id: str) -> str:
    """Hash tokens, at: the tenant's API token bucket (scheduler ratelimit.py)."""
    return f"ratelimit:{tenant_id}"


def import_staging(upload_id: str) -> str:
    """List of the rows of an ImportContacts upload being checked, before any is stored."""
    return f"import:{upload_id}:rows"


def import_seen(upload_id: str) -> str:
    """Set of the contact ids of an ImportContacts upload being checked (duplicates within it)."""
    return f"import:{upload_id}:ids"


def create_request(tenant_id: str, request_id: str) -> str:
    return f"request:{tenant_id}:{request_id}"


def contacts(tenant_id: str, campaign_id: str) -> str:
    """Hash contact id -> serialized Contact."""
    return f"contacts:{tenant_id}:{campaign_id}"


def queue(tenant_id: str, campaign_id: str) -> str:
    """Sorted set of contact ids by next eligible time (epoch seconds)."""
    return f"queue:{tenant_id}:{campaign_id}"


def running_campaigns() -> str:
    """Set of running_member()s: the campaigns the scheduler's dispatcher walks, and the dialer's test,
    when it takes a dial request, that the campaign was not paused meanwhile."""
    return "campaigns:running"


def running_member(tenant_id: str, campaign_id: str) -> str:
    return f"{tenant_id}/{campaign_id}"


def dispatch_errors(tenant_id: str, campaign_id: str) -> str:
    """Hash contact id -> passing errors in a row at its dispatch (scheduler dispatcher.py); expires."""
    return f"dispatcherrors:{tenant_id}:{campaign_id}"


def in_flight(tenant_id: str, campaign_id: str) -> str:
    """Hash attempt id -> deadline (epoch seconds) of attempts not yet finished."""
    return f"inflight:{tenant_id}:{campaign_id}"


def attempt(attempt_id: str) -> str:
    return f"attempt:{attempt_id}"


def claim(attempt_id: str) -> str:
    """Set NX by the dialer before INVITE: at most one call per attempt."""
    return f"claim:{attempt_id}"


def tts_audio(audio_key: str) -> str:
    return f"tts:audio:{audio_key}"


def seen_event(consumer: str, event_id: str) -> str:
    return f"seen:{consumer}:{event_id}"


def report_view(tenant_id: str, campaign_id: str) -> str:
    """JSON campaign report the reporting service's faust agent keeps current."""
    return f"report:{tenant_id}/{campaign_id}"


def call_record(tenant_id: str, campaign_id: str, attempt_id: str) -> str:
    """Hash sequence -> CallEvent bytes of one attempt: its call record (reporting records.py)."""
    return f"callrec:{tenant_id}/{campaign_id}:{attempt_id}"


def call_records(tenant_id: str, campaign_id: str) -> str:
    """Sorted set of the campaign's attempt ids by their first event's time (reporting records.py)."""
    return f"callrecs:{tenant_id}/{campaign_id}"


def answered_at(attempt_id: str) -> str:
    return f"answered:{attempt_id}"


def spam_window(tenant_id: str, campaign_id: str) -> str:
    """List of the campaign's latest answered-call classifications (spam-risk monitor), newest first."""
    return f"spam:{tenant_id}:{campaign_id}"


def tenant_spam_window(tenant_id: str) -> str:
    """The same classifications over all the tenant's campaigns, newest first."""
    return f"spam:{tenant_id}"


def abandonment_day(tenant_id: str, campaign_id: str, day: str) -> str:
    """Hash answered / abandoned: the campaign's answered calls on one UTC day (ISO date)."""
    return f"abandon:{tenant_id}:{campaign_id}:{day}"


def tenant_spam_pause(tenant_id: str) -> str:
    """Serialized SpamPause of a pause of all the tenant's campaigns; expires with its cooldown."""
    return f"spampause:{tenant_id}"
