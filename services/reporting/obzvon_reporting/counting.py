"""How one call event changes a campaign's report. Pure: the faust agent and the tests share it."""

from __future__ import annotations

from typing import Any

from obzvon.v1 import events_pb2, reports_pb2

T = events_pb2.CallEventType

COUNTERS = ("attempts", "answered", "completed", "failed", "yes", "no", "other", "opted_out", "blocked")


def campaign_key(event: events_pb2.CallEvent) -> str:
    return f"{event.tenant_id}/{event.campaign_id}"


def empty_report() -> dict[str, Any]:
    return {**{c: 0 for c in COUNTERS}, "tags": {}, "outcomes": {}}


def apply_event(report: dict[str, Any], event: events_pb2.CallEvent) -> dict[str, Any]:
    """Returns the report with the event counted. Callers deduplicate events by event_id first."""
    out = {**report, "tags": dict(report.get("tags", {})), "outcomes": dict(report.get("outcomes", {}))}
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
        out["outcomes"][event.reason] = out["outcomes"].get(event.reason, 0) + 1
    elif event.type in (T.CALL_EVENT_TYPE_COMPLETED, T.CALL_EVENT_TYPE_FAILED):
        out["completed" if event.type == T.CALL_EVENT_TYPE_COMPLETED else "failed"] += 1
        reason = event.reason or ("completed" if event.type == T.CALL_EVENT_TYPE_COMPLETED else "failed")
        out["outcomes"][reason] = out["outcomes"].get(reason, 0) + 1
    if event.tag and event.type == T.CALL_EVENT_TYPE_NODE_ENTERED:
        out["tags"][event.tag] = out["tags"].get(event.tag, 0) + 1
    return out


def to_proto(campaign: str, report: dict[str, Any]) -> reports_pb2.CampaignReport:
    return reports_pb2.CampaignReport(
        campaign=campaign,
        **{c: int(report.get(c, 0)) for c in COUNTERS},
        tags={k: int(v) for k, v in report.get("tags", {}).items()},
        outcomes={k: int(v) for k, v in report.get("outcomes", {}).items()},
    )


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
