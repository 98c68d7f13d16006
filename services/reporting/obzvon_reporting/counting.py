"""How one call event changes a campaign's report. Pure: the faust agent and the tests share it."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from obzvon.outcomes import describe, name, platform_error
from obzvon.v1 import events_pb2, reports_pb2

T = events_pb2.CallEventType

COUNTERS = (
    "attempts",
    "answered",
    "completed",
    "failed",
    "yes",
    "no",
    "other",
    "opted_out",
    "blocked",
    "program_errors",
)
# Counts keyed by a name: tags, outcomes by text, by enum name, blocked by rule, program errors by type.
MAPS = ("tags", "outcomes", "outcome_counts", "blocked_by_rule", "program_errors_by_type")
FINAL = (T.CALL_EVENT_TYPE_COMPLETED, T.CALL_EVENT_TYPE_FAILED, T.CALL_EVENT_TYPE_BLOCKED)
# The latest program errors a report lists (each with its attempt, for a look at its events and logs).
PROGRAM_ERRORS_LISTED = 50


def campaign_key(event: events_pb2.CallEvent) -> str:
    return f"{event.tenant_id}/{event.campaign_id}"


def empty_report() -> dict[str, Any]:
    return {**{c: 0 for c in COUNTERS}, **{m: {} for m in MAPS}, "recent_program_errors": []}


def apply_event(report: dict[str, Any], event: events_pb2.CallEvent) -> dict[str, Any]:
    """Returns the report with the event counted. Callers deduplicate events by event_id first."""
    out = {**report, **{m: dict(report.get(m, {})) for m in MAPS}}
    if event.type == T.CALL_EVENT_TYPE_DIALING:
        out["attempts"] += 1
    elif event.type == T.CALL_EVENT_TYPE_ANSWERED:
        out["answered"] += 1
    elif event.type == T.CALL_EVENT_TYPE_REPLY:
        intent = event.intent if event.intent in ("yes", "no") else "other"
        out[intent] += 1
    elif event.type == T.CALL_EVENT_TYPE_OPTED_OUT:
        out["opted_out"] += 1
    elif event.type == T.CALL_EVENT_TYPE_BLOCKED:
        out["blocked"] += 1
    elif event.type == T.CALL_EVENT_TYPE_COMPLETED:
        out["completed"] += 1
    elif event.type == T.CALL_EVENT_TYPE_FAILED:
        out["failed"] += 1
    if event.type in FINAL:
        _count_outcome(out, event)
    if event.tag and event.type == T.CALL_EVENT_TYPE_NODE_ENTERED:
        _bump(out["tags"], event.tag)
    return out


def _count_outcome(out: dict[str, Any], event: events_pb2.CallEvent) -> None:
    """By the outcome enum and its detail; the event's reason text is never read."""
    detail = event.outcome
    _bump(out["outcomes"], describe(detail, event.sip_code))
    _bump(out["outcome_counts"], name(detail.outcome))
    if detail.outcome == events_pb2.CALL_OUTCOME_BLOCKED:
        _bump(out["blocked_by_rule"], detail.rule or "unknown rule")
    if platform_error(detail):
        out["program_errors"] = out.get("program_errors", 0) + 1
        _bump(out["program_errors_by_type"], detail.error_type or "unknown")
        listed = {
            "attempt_id": event.attempt_id,
            "contact_id": event.contact_id,
            "error_type": detail.error_type,
            "node": detail.node,
            "time_ns": event.time.ToNanoseconds(),
        }
        out["recent_program_errors"] = [*report_errors(out), listed][-PROGRAM_ERRORS_LISTED:]


def report_errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return list(report.get("recent_program_errors", []))


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def to_proto(campaign: str, report: dict[str, Any]) -> reports_pb2.CampaignReport:
    errors = []
    for e in report_errors(report):
        at = Timestamp()
        at.FromNanoseconds(int(e.get("time_ns", 0)))
        errors.append(
            reports_pb2.ProgramError(
                attempt_id=e.get("attempt_id", ""),
                contact_id=e.get("contact_id", ""),
                error_type=e.get("error_type", ""),
                node=e.get("node", ""),
                time=at,
            )
        )
    out = reports_pb2.CampaignReport(campaign=campaign, recent_program_errors=errors)
    for c in COUNTERS:
        setattr(out, c, int(report.get(c, 0)))
    for m in MAPS:
        getattr(out, m).update({k: int(v) for k, v in report.get(m, {}).items()})
    return out


RECENT_EVENTS = "recent_event_ids"


def count_once(report: dict[str, Any], event: events_pb2.CallEvent, window: int) -> dict[str, Any] | None:
    """The report with the event counted, or None when the event is among the last `window` counted
    (a redelivery). The remembered ids live in the report itself, so they change atomically with it."""
    recent: list[str] = list(report.get(RECENT_EVENTS, []))
    if event.event_id in recent:
        return None
    out = apply_event(report, event)
    out[RECENT_EVENTS] = [*recent, event.event_id][-window:]
    return out


def report_view(report: dict[str, Any]) -> dict[str, Any]:
    """What readers see: the counts without the bookkeeping."""
    return {k: v for k, v in report.items() if k != RECENT_EVENTS}
