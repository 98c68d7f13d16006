"""How one call event changes a campaign's report. Pure: the faust agent and the tests share it.

Exactly once in effect: every event of an attempt carries a monotonic `sequence` (the dialer numbers
them; call.events is keyed by attempt id, so they arrive in order). Per attempt the highest counted
sequence is remembered (AttemptProgress, a faust table keyed by attempt); an event at or below it is
a redelivery, however many other events came between. Events that belong to no attempt (a contact
blocked at import or held back by a rule) are remembered by their event id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
# A report's funnel lists at most this many nodes (a script's node count is bounded far below it).
FUNNEL_NODES = 500
# Upper bounds (ms) of the duration histogram buckets; the last bucket is everything above.
DURATION_BOUNDS_MS = (
    250, 500, 1000, 1500, 2000, 3000, 4000, 5000, 7500, 10_000, 15_000, 20_000, 30_000, 45_000,
    60_000, 90_000, 120_000, 180_000, 300_000, 600_000,
)  # fmt: skip
DURATIONS = ("ring", "talk")
# ASR confidence in tenths: bucket i holds [i/10, (i+1)/10), the last also 1.0.
CONFIDENCE_BUCKETS = 10
# Replies the robot could not place: counted as "no match" at their node (the script's fallback branch).
NO_MATCH_INTENTS = ("other", "")


def campaign_key(event: events_pb2.CallEvent) -> str:
    return f"{event.tenant_id}/{event.campaign_id}"


def empty_report() -> dict[str, Any]:
    return {
        **{c: 0 for c in COUNTERS},
        **{m: {} for m in MAPS},
        "recent_program_errors": [],
        "funnel": {},
        "durations": {d: empty_histogram() for d in DURATIONS},
        "asr_confidence": {"count": 0, "sum": 0.0, "buckets": [0] * CONFIDENCE_BUCKETS},
    }


def empty_histogram() -> dict[str, Any]:
    return {"count": 0, "sum_ms": 0, "max_ms": 0, "buckets": [0] * (len(DURATION_BOUNDS_MS) + 1)}


@dataclass
class AttemptProgress:
    """What reporting remembers of one attempt: the highest counted sequence (the dedup mark) and the
    times the durations are measured from. JSON-friendly (a faust table value)."""

    counted_through: int = -1
    dialing_ns: int = 0
    ringing_ns: int = 0
    answered_ns: int = 0
    # 1 right after a DTMF event: the REPLY that follows it was keyed, not recognised by ASR.
    keyed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> AttemptProgress:
        return cls(**{k: int(v) for k, v in (raw or {}).items() if k in cls.__dataclass_fields__})


@dataclass
class Counting:
    """The result of offering one event: whether it was counted (False: a redelivery), and the report
    and attempt progress after it."""

    counted: bool
    report: dict[str, Any]
    progress: AttemptProgress = field(default_factory=AttemptProgress)


def progress_key(event: events_pb2.CallEvent) -> str:
    """Which progress record dedups the event: its attempt when it has a sequence, else the event itself."""
    if event.attempt_id and event.sequence > 0:
        return f"attempt:{event.attempt_id}"
    return f"event:{event.event_id}"


def count_exactly(report: dict[str, Any], progress: AttemptProgress, event: events_pb2.CallEvent) -> Counting:
    """Counts the event unless its attempt already counted this sequence (or, sequence-less, this event)."""
    sequence = event.sequence if event.attempt_id and event.sequence > 0 else 0
    if sequence <= progress.counted_through:
        return Counting(counted=False, report=report, progress=progress)
    at = event.time.ToNanoseconds()
    after = AttemptProgress(**{**progress.as_dict(), "counted_through": sequence})
    after.keyed = int(event.type == T.CALL_EVENT_TYPE_DTMF)
    out = apply_event(report, event, keyed=bool(progress.keyed))
    if event.type == T.CALL_EVENT_TYPE_DIALING:
        after.dialing_ns = at
    elif event.type == T.CALL_EVENT_TYPE_RINGING and not after.ringing_ns:
        after.ringing_ns = at
    elif event.type == T.CALL_EVENT_TYPE_ANSWERED and not after.answered_ns:
        after.answered_ns = at
        ring_from = after.ringing_ns or after.dialing_ns
        if ring_from and at >= ring_from:
            _observe(out["durations"], "ring", (at - ring_from) // 1_000_000)
    if event.type in FINAL and after.answered_ns and at >= after.answered_ns:
        _observe(out["durations"], "talk", (at - after.answered_ns) // 1_000_000)
    return Counting(counted=True, report=out, progress=after)


def apply_event(report: dict[str, Any], event: events_pb2.CallEvent, keyed: bool = False) -> dict[str, Any]:
    """Returns the report with the event counted (keyed: a REPLY of key presses, which has no ASR
    confidence). Callers deduplicate first (count_exactly)."""
    out = {**empty_report(), **report, **{m: dict(report.get(m, {})) for m in MAPS}}
    out["funnel"] = {k: dict(v) for k, v in report.get("funnel", {}).items()}
    if event.type == T.CALL_EVENT_TYPE_DIALING:
        out["attempts"] += 1
    elif event.type == T.CALL_EVENT_TYPE_ANSWERED:
        out["answered"] += 1
    elif event.type == T.CALL_EVENT_TYPE_NODE_ENTERED:
        _funnel_bump(out, event.node, "entered")
    elif event.type == T.CALL_EVENT_TYPE_REPLY:
        intent = event.intent if event.intent in ("yes", "no") else "other"
        out[intent] += 1
        _count_reply(out, event, keyed)
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


def _count_reply(out: dict[str, Any], event: events_pb2.CallEvent, keyed: bool) -> None:
    if event.intent == "no_input":
        _funnel_bump(out, event.node, "no_input")
    elif event.intent in NO_MATCH_INTENTS:
        _funnel_bump(out, event.node, "no_match")
    else:
        _funnel_bump(out, event.node, "answers", event.intent)
    if event.intent != "no_input" and event.confidence > 0 and not keyed:
        asr = dict(out["asr_confidence"])
        buckets = list(asr["buckets"])
        buckets[min(int(event.confidence * CONFIDENCE_BUCKETS), CONFIDENCE_BUCKETS - 1)] += 1
        out["asr_confidence"] = {"count": asr["count"] + 1, "sum": asr["sum"] + event.confidence, "buckets": buckets}


def _funnel_bump(out: dict[str, Any], node: str, counter: str, answer: str = "") -> None:
    """node "" is the opening (disclosure) before the script's first node."""
    if node not in out["funnel"] and len(out["funnel"]) >= FUNNEL_NODES:
        return
    entry = {"entered": 0, "answers": {}, "no_input": 0, "no_match": 0, "hung_up": 0, **out["funnel"].get(node, {})}
    if counter == "answers":
        entry["answers"] = {**entry["answers"], answer: entry["answers"].get(answer, 0) + 1}
    else:
        entry[counter] += 1
    out["funnel"][node] = entry


def _observe(durations: dict[str, Any], which: str, ms: int) -> None:
    h = dict(durations[which])
    buckets = list(h["buckets"])
    buckets[next((i for i, b in enumerate(DURATION_BOUNDS_MS) if ms <= b), len(DURATION_BOUNDS_MS))] += 1
    durations[which] = {
        "count": h["count"] + 1,
        "sum_ms": h["sum_ms"] + ms,
        "max_ms": max(h["max_ms"], ms),
        "buckets": buckets,
    }


def percentile_ms(histogram: dict[str, Any], q: float) -> int:
    """The upper bound of the bucket holding the q-quantile (the largest value seen for the last bucket)."""
    count = int(histogram.get("count", 0))
    if count == 0:
        return 0
    rank, seen = q * count, 0
    for i, n in enumerate(histogram["buckets"]):
        seen += n
        if seen >= rank and n:
            return (
                min(DURATION_BOUNDS_MS[i], int(histogram["max_ms"]))
                if i < len(DURATION_BOUNDS_MS)
                else int(histogram["max_ms"])
            )
    return int(histogram["max_ms"])


def _count_outcome(out: dict[str, Any], event: events_pb2.CallEvent) -> None:
    """By the outcome enum and its detail; the event's reason text is never read."""
    detail = event.outcome
    _bump(out["outcomes"], describe(detail, event.sip_code))
    _bump(out["outcome_counts"], name(detail.outcome))
    if detail.outcome == events_pb2.CALL_OUTCOME_CALLEE_HUNG_UP:
        _funnel_bump(out, detail.node, "hung_up")
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
    report = {**empty_report(), **report}
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
    for node, entry in report["funnel"].items():
        out.funnel.append(
            reports_pb2.NodeFunnel(
                node=node,
                entered=int(entry.get("entered", 0)),
                answers={k: int(v) for k, v in entry.get("answers", {}).items()},
                no_input=int(entry.get("no_input", 0)),
                no_match=int(entry.get("no_match", 0)),
                hung_up=int(entry.get("hung_up", 0)),
            )
        )
    out.ring.CopyFrom(_duration_proto(report["durations"]["ring"]))
    out.talk.CopyFrom(_duration_proto(report["durations"]["talk"]))
    asr = report["asr_confidence"]
    out.asr_confidence.CopyFrom(
        reports_pb2.ConfidenceSummary(
            count=int(asr["count"]),
            mean=float(asr["sum"]) / asr["count"] if asr["count"] else 0.0,
            tenths=[int(n) for n in asr["buckets"]],
        )
    )
    return out


def _duration_proto(h: dict[str, Any]) -> reports_pb2.DurationSummary:
    count = int(h["count"])
    return reports_pb2.DurationSummary(
        count=count,
        mean_ms=int(h["sum_ms"]) // count if count else 0,
        max_ms=int(h["max_ms"]),
        p50_ms=percentile_ms(h, 0.5),
        p95_ms=percentile_ms(h, 0.95),
        bucket_bounds_ms=list(DURATION_BOUNDS_MS),
        bucket_counts=[int(n) for n in h["buckets"]],
    )
