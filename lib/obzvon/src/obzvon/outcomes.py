"""Call outcomes as a contract: what each CallOutcome means for retries, the spam monitor,
abandonment and people, decided once here. Producers set CallEvent.outcome; every consumer reads it
through this module, and CallEvent.reason is only its text for people (`describe`).

Adding a CallOutcome value means deciding its Policy below (tests/unit/test_outcomes.py fails until then).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from obzvon.limits import MAX_DIAL_REQUEST_BYTES
from obzvon.v1 import events_pb2 as ev
from obzvon.v1.events_pb2 import CallOutcome, NotDialedReason, OutcomeDetail


class Retry(Enum):
    """What the scheduler does with the contact after an attempt ended so."""

    FINAL = "final"  # this campaign does not call the contact again
    LATER = "later"  # another attempt after the retry delay, while the campaign's attempts last
    REQUEUE = "requeue"  # never dialed: back to the queue, the attempt not counted


class SpamSignal(Enum):
    """What an answered call tells the spam-risk monitor."""

    NONE = "none"
    OPTED_OUT = "opted out"
    HUNG_UP = "hung up"  # short when it came within the monitor's short_hangup_s of answering


@dataclass(frozen=True)
class Policy:
    retry: Retry
    text: str
    # The callee's phone rang: ringing it again waits at least the profile's minimum retry delay.
    callee_rang: bool = False
    spam: SpamSignal = SpamSignal.NONE
    # Abandonment rates count calls a person answered (47 CFR 64.1200(a)(7)), not machines.
    person_answered: bool = True


POLICIES: dict[CallOutcome.ValueType, Policy] = {
    # A producer that did not say how the call ended: never retried blindly.
    ev.CALL_OUTCOME_UNSPECIFIED: Policy(Retry.FINAL, "unknown"),
    ev.CALL_OUTCOME_COMPLETED: Policy(Retry.FINAL, "completed"),
    ev.CALL_OUTCOME_BUSY: Policy(Retry.LATER, "busy", callee_rang=True),
    ev.CALL_OUTCOME_NO_ANSWER: Policy(Retry.LATER, "no answer", callee_rang=True),
    ev.CALL_OUTCOME_DECLINED: Policy(Retry.FINAL, "declined"),
    ev.CALL_OUTCOME_INVALID_NUMBER: Policy(Retry.FINAL, "bad number"),
    ev.CALL_OUTCOME_TRUNK_FAILURE: Policy(Retry.LATER, "trunk unavailable"),
    ev.CALL_OUTCOME_SIP_REJECTED: Policy(Retry.FINAL, "sip {sip_code}"),
    ev.CALL_OUTCOME_MACHINE: Policy(Retry.LATER, "answering machine", callee_rang=True, person_answered=False),
    ev.CALL_OUTCOME_OPTED_OUT: Policy(Retry.FINAL, "opted out", spam=SpamSignal.OPTED_OUT),
    ev.CALL_OUTCOME_TRANSFERRED: Policy(Retry.FINAL, "transferred"),
    ev.CALL_OUTCOME_TRANSFER_FAILED: Policy(Retry.FINAL, "transfer failed"),
    ev.CALL_OUTCOME_CALLEE_HUNG_UP: Policy(Retry.FINAL, "callee hung up", spam=SpamSignal.HUNG_UP),
    ev.CALL_OUTCOME_NO_ANSWER_TO_QUESTION: Policy(Retry.FINAL, "no answer to question"),
    ev.CALL_OUTCOME_BLOCKED: Policy(Retry.FINAL, "blocked: {rule}"),
    # Decided per NotDialedReason (NOT_DIALED below).
    ev.CALL_OUTCOME_NOT_DIALED: Policy(Retry.FINAL, "not dialed"),
    ev.CALL_OUTCOME_DIALER_LOST: Policy(Retry.LATER, "dialer lost"),
    # The callee heard the platform's opening and «we will call back later» (tts was behind): kept, and
    # the retry still passes the caps and the profile's minimum delay.
    ev.CALL_OUTCOME_PROMPT_NOT_READY: Policy(Retry.LATER, "prompt not ready", callee_rang=True),
    ev.CALL_OUTCOME_CALL_TOO_LONG: Policy(Retry.FINAL, "max call length"),
    ev.CALL_OUTCOME_MEDIA_TIMEOUT: Policy(Retry.FINAL, "rtp inactivity"),
    ev.CALL_OUTCOME_PROGRAM_ERROR: Policy(Retry.FINAL, "program error: {error_type}"),
    ev.CALL_OUTCOME_SCRIPT_STEP_LIMIT: Policy(Retry.FINAL, "script step limit"),
}


@dataclass(frozen=True)
class NotDialedPolicy:
    retry: Retry
    text: str


NOT_DIALED: dict[NotDialedReason.ValueType, NotDialedPolicy] = {
    ev.NOT_DIALED_REASON_UNSPECIFIED: NotDialedPolicy(Retry.FINAL, "not dialed"),
    # Paused while the request waited in Kafka: called when the campaign runs again.
    ev.NOT_DIALED_REASON_CAMPAIGN_NOT_RUNNING: NotDialedPolicy(Retry.REQUEUE, "campaign paused"),
    ev.NOT_DIALED_REASON_EXPIRED: NotDialedPolicy(Retry.FINAL, "expired before dialing"),
    ev.NOT_DIALED_REASON_TRUNK_NOT_ALLOWED: NotDialedPolicy(Retry.FINAL, "trunk not allowed"),
    ev.NOT_DIALED_REASON_REQUEST_TOO_LARGE: NotDialedPolicy(
        Retry.FINAL, f"dial request of over {MAX_DIAL_REQUEST_BYTES} bytes"
    ),
    # The dispatcher already retried it a few times (dispatch_max_errors).
    ev.NOT_DIALED_REASON_DISPATCH_FAILED: NotDialedPolicy(Retry.FINAL, "dispatch error ({error_type})"),
}

# A value this build does not know (proto3 enums are open; a newer producer may send one): final, so
# nobody is called again on a guess.
_UNKNOWN = Policy(Retry.FINAL, "unknown outcome {value}")


def policy(outcome: CallOutcome.ValueType) -> Policy:
    return POLICIES.get(outcome, _UNKNOWN)


def outcome_of_sip(sip_code: int) -> CallOutcome.ValueType:
    """What a final SIP response to INVITE means (RFC 3261 section 21; 5xx: the trunk's or network's fault)."""
    if sip_code in (486, 600):
        return ev.CALL_OUTCOME_BUSY
    if sip_code in (408, 480, 487):
        return ev.CALL_OUTCOME_NO_ANSWER
    if sip_code in (404, 410, 484, 604):
        return ev.CALL_OUTCOME_INVALID_NUMBER
    if sip_code == 603:
        return ev.CALL_OUTCOME_DECLINED
    if 500 <= sip_code < 600:
        return ev.CALL_OUTCOME_TRUNK_FAILURE
    # Other 3xx (not followed), 4xx and 6xx: refused for a reason another try would not change.
    return ev.CALL_OUTCOME_SIP_REJECTED


def retry_of(detail: OutcomeDetail) -> Retry:
    if detail.outcome == ev.CALL_OUTCOME_NOT_DIALED:
        return NOT_DIALED.get(detail.not_dialed, NOT_DIALED[ev.NOT_DIALED_REASON_UNSPECIFIED]).retry
    return policy(detail.outcome).retry


def spam_signal(outcome: CallOutcome.ValueType) -> SpamSignal:
    return policy(outcome).spam


def person_answered(outcome: CallOutcome.ValueType) -> bool:
    return policy(outcome).person_answered


def platform_error(detail: OutcomeDetail) -> bool:
    """An exception in the platform ended the attempt: reports count and list it apart."""
    return bool(detail.error_type) or detail.outcome == ev.CALL_OUTCOME_PROGRAM_ERROR


def describe(detail: OutcomeDetail, sip_code: int = 0) -> str:
    """The outcome's text for people (contact statuses, reports, CallEvent.reason); never parsed."""
    text = policy(detail.outcome).text
    if detail.outcome == ev.CALL_OUTCOME_NOT_DIALED:
        text = NOT_DIALED.get(detail.not_dialed, NOT_DIALED[ev.NOT_DIALED_REASON_UNSPECIFIED]).text
    return text.format(
        sip_code=sip_code,
        rule=detail.rule or "unknown rule",
        error_type=detail.error_type or "unknown",
        value=int(detail.outcome),
    )


def name(outcome: CallOutcome.ValueType) -> str:
    """The enum value's name, e.g. "CALL_OUTCOME_BUSY"; a value this build does not know by its number."""
    try:
        return CallOutcome.Name(outcome)
    except ValueError:
        return f"CALL_OUTCOME_{int(outcome)}"
