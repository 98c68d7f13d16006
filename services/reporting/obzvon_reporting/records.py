"""Call records: one per attempt, kept in Redis from call.events, read by ListCallRecords and the export.

A record is the attempt's events themselves, stored by sequence in a hash (HSET by sequence is
idempotent, so a redelivered event rewrites the same field) and folded into a CallRecord when read.
A sorted set per campaign orders the attempts by their first event's time. Sizes are bounded: at most
MAX_EVENTS_PER_RECORD events per attempt (the final event always), transcripts cut to
TRANSCRIPT_CHARS, and every key expires call_record_ttl_s after its last write.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp
from obzvon import keys
from obzvon.outcomes import describe
from obzvon.v1 import events_pb2, reports_pb2, scripts_pb2
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from obzvon_reporting.counting import FINAL
from obzvon_reporting.reads import as_bytes

T = events_pb2.CallEventType
MAX_EVENTS_PER_RECORD = 256
TRANSCRIPT_CHARS = 500
# Records one ListCallRecords request reads at most (a filter that matches few calls returns short
# pages rather than scanning a large campaign in one request).
SCAN_BUDGET = 2000
SCAN_BATCH = 200
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


class BadPageToken(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """The last record a page returned or read: its index score and attempt id (the zset's order)."""

    score: float
    attempt_id: str

    def token(self) -> str:
        return base64.urlsafe_b64encode(json.dumps({"s": self.score, "a": self.attempt_id}).encode()).decode()

    @classmethod
    def parse(cls, token: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token.encode()))
            return cls(float(raw["s"]), str(raw["a"]))
        except (ValueError, KeyError, TypeError) as e:
            raise BadPageToken(token) from e


def kept(event: events_pb2.CallEvent) -> bool:
    """Whether the event goes into its attempt's record (bounded; the final event always does)."""
    return (
        bool(event.attempt_id)
        and event.sequence > 0
        and (event.sequence <= MAX_EVENTS_PER_RECORD or event.type in FINAL)
    )


def save(pipe: Pipeline, event: events_pb2.CallEvent, ttl_s: int) -> None:
    """Queues the writes that add the event to its record (idempotent)."""
    stored = events_pb2.CallEvent()
    stored.CopyFrom(event)
    stored.phone_number = ""  # the record names the contact; the number stays in the scheduler's store
    stored.transcript = event.transcript[:TRANSCRIPT_CHARS]
    record = keys.call_record(event.tenant_id, event.campaign_id, event.attempt_id)
    index = keys.call_records(event.tenant_id, event.campaign_id)
    pipe.hset(record, str(event.sequence), stored.SerializeToString())
    pipe.expire(record, ttl_s)
    pipe.zadd(index, {event.attempt_id: event.time.ToNanoseconds() / 1e9}, nx=True)
    pipe.expire(index, ttl_s)


def fold(attempt_id: str, events: Iterable[events_pb2.CallEvent], script: scripts_pb2.Script) -> reports_pb2.CallRecord:
    """The record of one attempt from its events (any order; sorted by sequence here)."""
    record = reports_pb2.CallRecord(attempt_id=attempt_id)
    digits_at: dict[str, str] = {}
    for event in sorted(events, key=lambda e: e.sequence):
        record.contact_id = record.contact_id or event.contact_id
        if not record.HasField("start_time"):
            record.start_time.CopyFrom(event.time)
        if event.type == T.CALL_EVENT_TYPE_RINGING and not record.HasField("ringing_time"):
            record.ringing_time.CopyFrom(event.time)
        elif event.type == T.CALL_EVENT_TYPE_ANSWERED and not record.HasField("answer_time"):
            record.answer_time.CopyFrom(event.time)
        elif event.type == T.CALL_EVENT_TYPE_NODE_ENTERED:
            record.path.append(event.node)
            if event.tag:
                record.tags.append(event.tag)
            if event.node in script.nodes:
                record.result_fields.update(script.nodes[event.node].set)
        elif event.type == T.CALL_EVENT_TYPE_DTMF:
            digits_at[event.node] = event.transcript
        elif event.type == T.CALL_EVENT_TYPE_RECORDED:
            record.recording_key = event.recording_key
        elif event.type == T.CALL_EVENT_TYPE_REPLY:
            digits = digits_at.pop(event.node, "")
            record.replies.append(
                reports_pb2.CallReply(
                    node=event.node,
                    intent=event.intent,
                    transcript="" if digits and event.transcript == digits else event.transcript,
                    digits=digits,
                    confidence=event.confidence,
                )
            )
        elif event.type in FINAL and not record.HasField("end_time"):
            record.end_time.CopyFrom(event.time)
            record.outcome = event.outcome.outcome
            record.outcome_text = describe(event.outcome, event.sip_code)
            record.sip_code = event.sip_code
            record.end_node = event.outcome.node
    if record.HasField("answer_time"):
        ring_from = record.ringing_time if record.HasField("ringing_time") else record.start_time
        record.ring_ms = _ms_between(ring_from, record.answer_time)
        if record.HasField("end_time"):
            record.talk_ms = _ms_between(record.answer_time, record.end_time)
    return record


def _ms_between(a: Timestamp, b: Timestamp) -> int:
    return max(0, (b.ToNanoseconds() - a.ToNanoseconds()) // 1_000_000)


def matches(record: reports_pb2.CallRecord, f: reports_pb2.CallRecordFilter) -> bool:
    """Time is checked on the index; the rest here."""
    return (
        (not f.outcome or record.outcome == f.outcome)
        and (not f.node or f.node in record.path)
        and (not f.tag or f.tag in record.tags)
    )


@dataclass
class Page:
    records: list[reports_pb2.CallRecord]
    next_token: str


class CallRecords:
    def __init__(self, redis: Redis, tenant_id: str, campaign_id: str, script: scripts_pb2.Script) -> None:
        self._redis = redis
        self._tenant = tenant_id
        self._campaign = campaign_id
        self._script = script

    async def page(
        self, f: reports_pb2.CallRecordFilter, page_size: int, token: str, budget: int = SCAN_BUDGET
    ) -> Page:
        """Raises BadPageToken for a token this service did not make."""
        cursor = Cursor.parse(token) if token else None
        low = f"{cursor.score!r}" if cursor else (f"{_seconds(f.start_time)!r}" if f.HasField("start_time") else "-inf")
        high = f"({_seconds(f.end_time)!r}" if f.HasField("end_time") else "+inf"
        index = keys.call_records(self._tenant, self._campaign)
        found: list[reports_pb2.CallRecord] = []
        offset, read = 0, 0
        while read < budget:
            batch = await self._redis.zrange(
                index, low, high, byscore=True, offset=offset, num=SCAN_BATCH, withscores=True
            )
            if not batch:
                return Page(found, "")
            offset += len(batch)
            for position, entry in enumerate(batch):
                raw_id, raw_score = entry[0], entry[1]
                attempt_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                score = float(raw_score)
                if cursor and (score, attempt_id) <= (cursor.score, cursor.attempt_id):
                    continue
                read += 1
                record = await self.get(attempt_id)
                if record is not None and matches(record, f):
                    found.append(record)
                last = Cursor(score, attempt_id)
                if len(found) >= page_size or read >= budget:
                    more = position < len(batch) - 1 or bool(
                        await self._redis.zrange(index, low, high, byscore=True, offset=offset, num=1)
                    )
                    return Page(found, last.token() if more else "")
        return Page(found, "")

    async def events(self, attempt_id: str) -> list[events_pb2.CallEvent]:
        """The attempt's stored events in sequence order; empty when there is no such record (or it expired)."""
        raw = await self._redis.hvals(keys.call_record(self._tenant, self._campaign, attempt_id))  # type: ignore[misc]
        return sorted((events_pb2.CallEvent.FromString(as_bytes(v)) for v in raw), key=lambda e: e.sequence)

    async def get(self, attempt_id: str) -> reports_pb2.CallRecord | None:
        """None when the record expired (its index entry outlives it for at most one TTL)."""
        events = await self.events(attempt_id)
        return fold(attempt_id, events, self._script) if events else None

    async def csv_chunks(self, f: reports_pb2.CallRecordFilter, rows_per_chunk: int = 200) -> AsyncIterator[str]:
        fields = result_field_names(self._script)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([*CSV_COLUMNS, *fields])
        token, rows = "", 0
        while True:
            page = await self.page(f, rows_per_chunk, token)
            for record in page.records:
                writer.writerow(csv_row(record, fields))
                rows += 1
            if out.tell():
                yield out.getvalue()
                out.seek(0)
                out.truncate()
            if not page.next_token:
                return
            token = page.next_token


CSV_COLUMNS = (
    "attempt_id",
    "contact_id",
    "outcome",
    "outcome_text",
    "sip_code",
    "start_time",
    "answer_time",
    "end_time",
    "ring_s",
    "talk_s",
    "path",
    "tags",
    "replies",
    "end_node",
)


def result_field_names(script: scripts_pb2.Script) -> list[str]:
    return sorted({name for node in script.nodes.values() for name in node.set})


def csv_row(record: reports_pb2.CallRecord, fields: list[str]) -> list[str]:
    def at(t: Timestamp, present: bool) -> str:
        return t.ToJsonString() if present else ""

    replies = "; ".join(f"{r.node}:{r.intent}" + (f"({r.digits})" if r.digits else "") for r in record.replies)
    row = [
        record.attempt_id,
        record.contact_id,
        events_pb2.CallOutcome.Name(record.outcome) if record.outcome in events_pb2.CallOutcome.values() else "",
        record.outcome_text,
        str(record.sip_code or ""),
        at(record.start_time, record.HasField("start_time")),
        at(record.answer_time, record.HasField("answer_time")),
        at(record.end_time, record.HasField("end_time")),
        f"{record.ring_ms / 1000:.3f}" if record.HasField("answer_time") else "",
        f"{record.talk_ms / 1000:.3f}" if record.HasField("end_time") and record.HasField("answer_time") else "",
        ">".join(record.path),
        ";".join(record.tags),
        replies,
        record.end_node,
        *(record.result_fields.get(name, "") for name in fields),
    ]
    return [_cell(v) for v in row]


def _cell(value: str) -> str:
    """A spreadsheet must not run a cell as a formula (contact ids and set values come from tenants)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _seconds(t: Timestamp) -> float:
    return t.ToNanoseconds() / 1e9
