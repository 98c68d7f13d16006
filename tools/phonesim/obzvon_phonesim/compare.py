"""What Obzvon recorded against what the phones did, per contact: the one comparison the demo, the
benchmarks and the end-to-end tests share.

Obzvon's side is its call record, the `call.events` topic; the phones' side is the simulator's
ground truth (one `invite` and one `call_end` line per INVITE it received). For each contact (phone
number) they must agree on the number of INVITEs (exactly one per attempt Obzvon dialed, never two)
and, call by call in time order, on how the call ended and the answer taken. Obzvon's side is read
from event types, intents and SIP codes, and the final event's outcome enum where it is set; never
from `reason`, which is text for people.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from google.protobuf import json_format
from obzvon.topics import CALL_EVENTS
from obzvon.v1 import events_pb2

T = events_pb2.CallEventType
FINAL_EVENTS = (T.CALL_EVENT_TYPE_COMPLETED, T.CALL_EVENT_TYPE_FAILED, T.CALL_EVENT_TYPE_BLOCKED)
# The simulator's behaviours whose reply, once given, is a yes or a no, and how it was given.
YES_NO = {"yes": ("yes", False), "no": ("no", False), "press1": ("yes", True), "press2": ("no", True)}
OPT_OUT = ("optout", "press9")


class Ending(enum.Enum):
    """How one call ended, as both sides can tell it."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no answer"
    DECLINED = "declined"
    UNREACHABLE = "unreachable"
    REJECTED = "rejected"  # another final SIP code (CallResult.sip_code says which)
    UNFINISHED = "unfinished"  # no final record yet (a lost attempt, or a call still in progress)


class Answer(enum.Enum):
    """What an answered call's callee gave the robot's question (NONE for a call not answered)."""

    NONE = "-"
    YES = "yes"
    NO = "no"
    OPT_OUT = "opt-out"
    NO_REPLY = "no answer to the question"
    HUNG_UP = "callee hung up"
    # Obzvon's side only: a reply heard as something else (intent in CallResult.detail), or a call
    # the platform ended before any reply (outcome in CallResult.detail).
    UNRECOGNISED = "reply not understood"
    ENDED_BY_PLATFORM = "ended by the platform"


@dataclass(frozen=True)
class CallResult:
    """One call of one contact: how it ended and the answer taken; `detail` is for people only."""

    ending: Ending
    answer: Answer = Answer.NONE
    keyed: bool = False  # a yes or no given on the keypad (1 or 2), not by voice
    sip_code: int = 0
    detail: str = ""

    def same_as(self, other: CallResult) -> bool:
        """Equal in what both sides can know (the detail and, for answered calls, the SIP code aside)."""
        codes_agree = self.ending is not Ending.REJECTED or self.sip_code == other.sip_code
        return (self.ending, self.answer, self.keyed) == (other.ending, other.answer, other.keyed) and codes_agree

    def __str__(self) -> str:
        if self.ending is Ending.ANSWERED:
            by = " by keypad" if self.keyed else (" by voice" if self.answer in (Answer.YES, Answer.NO) else "")
            more = f" ({self.detail})" if self.detail else ""
            return f"answered: {self.answer.value}{by}{more}"
        code = f" ({self.sip_code})" if self.sip_code else ""
        return f"{self.ending.value}{code}"


@dataclass(frozen=True)
class Difference:
    """A contact where Obzvon's record (got) is not what the phone did (expected)."""

    contact: str  # the phone number as dialled (E.164 without +): simulated numbers, not a person's
    what: str  # "invites" (INVITEs the phone received vs attempts Obzvon dialed) or "call N"
    expected: str
    got: str

    def as_dict(self) -> dict[str, str]:
        return {"contact": self.contact, "what": self.what, "expected": self.expected, "got": self.got}


@dataclass
class Comparison:
    contacts: int = 0  # contacts dialed by Obzvon or rung at the phones
    invites: int = 0  # INVITEs the phones received
    attempts_dialed: int = 0  # attempts Obzvon reports it sent an INVITE for
    contacts_matching: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def matches_ground_truth(self) -> bool:
        return not self.differences  # an INVITE count that differs is a difference of its contact

    def as_dict(self, limit: int = 50) -> dict[str, Any]:
        """JSON-ready, with at most `limit` differences listed (all are counted)."""
        return {
            "matches_ground_truth": self.matches_ground_truth,
            "contacts": self.contacts,
            "contacts_matching": self.contacts_matching,
            "invites": self.invites,
            "attempts_dialed": self.attempts_dialed,
            "differences_total": len(self.differences),
            "differences": [d.as_dict() for d in self.differences[:limit]],
        }


def _number(text: str) -> str:
    return text.lstrip("+")


# --- the phones' side -------------------------------------------------------------------------


def phone_calls(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Ground-truth lines -> one record per INVITE received (its call_end fields merged in when it ended)."""
    invites: dict[str, dict[str, Any]] = {}
    ends: dict[str, Mapping[str, Any]] = {}
    for record in records:
        if record.get("event") == "invite":
            invites[record["call_id"]] = dict(record)
        elif record.get("event") == "call_end":
            ends[record["call_id"]] = record
    return [
        {**invite, **ends[call_id], "ended": True} if call_id in ends else invite for call_id, invite in invites.items()
    ]


def read_phone_calls(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return phone_calls(json.loads(line) for line in lines if line.strip())


def phone_result(call: Mapping[str, Any]) -> CallResult:
    """What the phone did on one call, from its ground-truth record."""
    behaviour = str(call.get("behaviour", ""))
    if not call.get("ended"):
        return CallResult(Ending.UNFINISHED, detail=behaviour)
    code = int(call.get("sip_code") or 0)
    if call.get("answered"):
        if call.get("replied"):
            if behaviour in YES_NO:
                answer, keyed = YES_NO[behaviour]
                return CallResult(Ending.ANSWERED, Answer(answer), keyed=keyed, sip_code=200)
            if behaviour in OPT_OUT:
                return CallResult(Ending.ANSWERED, Answer.OPT_OUT, sip_code=200)
        # Said nothing the robot could take: hung up on it, or stayed on the line until the robot did.
        if call.get("ended_by") == "phone":
            return CallResult(Ending.ANSWERED, Answer.HUNG_UP, sip_code=200)
        return CallResult(Ending.ANSWERED, Answer.NO_REPLY, sip_code=200)
    return CallResult(_ending_of_sip(code, rang=behaviour != "unreachable"), sip_code=code)


def _ending_of_sip(code: int, *, rang: bool) -> Ending:
    """A final non-2xx response: 480 after ringing is a phone that gave up ringing, without it a phone that is off."""
    if code in (486, 600):
        return Ending.BUSY
    if code == 603:
        return Ending.DECLINED
    if code in (408, 487) or (code == 480 and rang):
        return Ending.NO_ANSWER
    if code == 480:
        return Ending.UNREACHABLE
    return Ending.REJECTED


# --- Obzvon's side ----------------------------------------------------------------------------


@dataclass
class Attempt:
    """One attempt's call events, in the dialer's order."""

    attempt_id: str
    phone_number: str = ""
    events: list[events_pb2.CallEvent] = field(default_factory=list)

    @property
    def dialed(self) -> bool:
        """An INVITE went out: the dialer announces DIALING right before sending it."""
        return any(e.type == T.CALL_EVENT_TYPE_DIALING for e in self.events)

    @property
    def dialed_at_ns(self) -> int:
        return min((e.time.ToNanoseconds() for e in self.events if e.type == T.CALL_EVENT_TYPE_DIALING), default=0)


def attempts_of(events: Iterable[events_pb2.CallEvent]) -> list[Attempt]:
    """Call events -> attempts; duplicates (same event_id, a redelivery) counted once."""
    by_id: dict[str, Attempt] = {}
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        attempt = by_id.setdefault(event.attempt_id, Attempt(event.attempt_id))
        attempt.phone_number = attempt.phone_number or _number(event.phone_number)
        attempt.events.append(event)
    for attempt in by_id.values():
        attempt.events.sort(key=lambda e: e.sequence)
    return list(by_id.values())


def obzvon_result(attempt: Attempt) -> CallResult:
    """What Obzvon recorded for one dialed attempt."""
    events = attempt.events
    types = [e.type for e in events]
    final = next((e for e in reversed(events) if e.type in FINAL_EVENTS), None)
    if T.CALL_EVENT_TYPE_ANSWERED not in types:
        if final is None or final.type != T.CALL_EVENT_TYPE_FAILED:
            return CallResult(Ending.UNFINISHED)
        ending = _ending_of_sip(final.sip_code, rang=T.CALL_EVENT_TYPE_RINGING in types)
        return CallResult(ending, sip_code=final.sip_code)
    if final is None:
        return CallResult(Ending.UNFINISHED, detail="answered, no final event")
    if T.CALL_EVENT_TYPE_OPTED_OUT in types:
        return CallResult(Ending.ANSWERED, Answer.OPT_OUT, sip_code=200)
    replies = [i for i, e in enumerate(events) if e.type == T.CALL_EVENT_TYPE_REPLY]
    if not replies:
        outcome = final.outcome.outcome if final.HasField("outcome") else events_pb2.CALL_OUTCOME_UNSPECIFIED
        if outcome in (events_pb2.CALL_OUTCOME_UNSPECIFIED, events_pb2.CALL_OUTCOME_CALLEE_HUNG_UP):
            return CallResult(Ending.ANSWERED, Answer.HUNG_UP, sip_code=200)
        name = events_pb2.CallOutcome.Name(outcome).removeprefix("CALL_OUTCOME_").lower()
        return CallResult(Ending.ANSWERED, Answer.ENDED_BY_PLATFORM, sip_code=200, detail=name)
    # The last reply is the one the script acted on (a retry or a confirmation asks again).
    last = replies[-1]
    reply = events[last]
    keyed = last > 0 and events[last - 1].type == T.CALL_EVENT_TYPE_DTMF
    if reply.intent in ("yes", "no"):
        return CallResult(Ending.ANSWERED, Answer(reply.intent), keyed=keyed, sip_code=200)
    if reply.intent == "no_input":
        return CallResult(Ending.ANSWERED, Answer.NO_REPLY, sip_code=200)
    return CallResult(Ending.ANSWERED, Answer.UNRECOGNISED, sip_code=200, detail=f"intent {reply.intent or '?'}")


# --- the comparison ---------------------------------------------------------------------------


def compare(
    events: Iterable[events_pb2.CallEvent],
    calls: Iterable[Mapping[str, Any]],
    *,
    numbers: Iterable[str] | None = None,
) -> Comparison:
    """Per contact: INVITEs received == attempts dialed, and call by call (in time order) the same
    ending and answer. `numbers` limits both sides to a campaign's contacts (a shared simulator)."""
    wanted = {_number(n) for n in numbers} if numbers is not None else None
    ours: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in attempts_of(events):
        if attempt.dialed and (wanted is None or attempt.phone_number in wanted):
            ours[attempt.phone_number].append(attempt)
    theirs: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for call in calls:
        number = _number(str(call.get("to_number", "")))
        if wanted is None or number in wanted:
            theirs[number].append(call)

    result = Comparison()
    for number in sorted(set(ours) | set(theirs)):
        attempts = sorted(ours.get(number, []), key=lambda a: a.dialed_at_ns)
        rung = sorted(theirs.get(number, []), key=lambda c: float(c.get("ts", 0.0)))
        result.contacts += 1
        result.invites += len(rung)
        result.attempts_dialed += len(attempts)
        found: list[Difference] = []
        if len(rung) != len(attempts):
            found.append(
                Difference(number, "invites", f"{len(rung)} INVITE(s) at the phone", f"{len(attempts)} dialed")
            )
        for i, (call, attempt) in enumerate(zip(rung, attempts, strict=False), start=1):
            expected, got = phone_result(call), obzvon_result(attempt)
            if not expected.same_as(got):
                found.append(Difference(number, f"call {i}", str(expected), str(got)))
        result.differences.extend(found)
        result.contacts_matching += not found
    return result


# --- reading the call record ------------------------------------------------------------------


async def read_call_events(
    bootstrap: str,
    topic_prefix: str,
    *,
    tenant_id: str = "",
    campaign_id: str = "",
    timeout_s: float = 60.0,
) -> list[events_pb2.CallEvent]:
    """Every call event of the topic (of one campaign when given), from the beginning to its end now."""
    topic = CALL_EVENTS.full_name(topic_prefix)
    # Subscribed without a group: the consumer takes every partition, from the beginning.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    out: list[events_pb2.CallEvent] = []
    try:
        partitions = sorted(consumer.assignment())
        end = await consumer.end_offsets(partitions) if partitions else {}
        async with asyncio.timeout(timeout_s):
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        event = events_pb2.CallEvent.FromString(record.value or b"")
                        if (not tenant_id or event.tenant_id == tenant_id) and (
                            not campaign_id or event.campaign_id == campaign_id
                        ):
                            out.append(event)
    finally:
        await consumer.stop()
    return out


def write_events(path: Path, events: Iterable[events_pb2.CallEvent]) -> None:
    """Call events as JSON lines (what `compare --events` reads), for a run's record."""
    with path.open("w", encoding="utf-8") as fh:
        for event in events:
            fh.write(json_format.MessageToJson(event, indent=None, ensure_ascii=False) + "\n")


def read_events(path: Path) -> list[events_pb2.CallEvent]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json_format.Parse(line, events_pb2.CallEvent()) for line in lines if line.strip()]
