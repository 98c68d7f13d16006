"""Audit trail: one record per admission decision, so that every call (and every call *not*
made) can be explained afterwards."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class AuditRecord:
    tenant: str
    campaign: str
    contact: str  # the contact key (debtor id or E.164)
    number: str
    attempt: str
    at: datetime
    phase: str  # "admit" (scheduler), "recheck" (dialer before INVITE), "screen" (import), "outcome"
    decision: str  # "admitted" / "blocked" / an outcome
    rule: str | None
    status: str
    detail: str

    def to_json(self) -> str:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return json.dumps(d, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> AuditRecord:
        d: dict[str, Any] = json.loads(raw)
        d["at"] = datetime.fromisoformat(d["at"])
        return cls(**d)


class AuditLog(Protocol):
    async def append(self, record: AuditRecord) -> None: ...
    async def for_contact(self, campaign: str, contact: str, limit: int = 100) -> list[AuditRecord]:
        """Newest last."""
        ...

    async def for_campaign(self, campaign: str, limit: int = 100) -> list[AuditRecord]:
        """The latest ``limit`` records, newest last."""
        ...


class MemoryAuditLog:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> None:
        self.records.append(record)

    async def for_contact(self, campaign: str, contact: str, limit: int = 100) -> list[AuditRecord]:
        return [r for r in self.records if r.campaign == campaign and r.contact == contact][-limit:]

    async def for_campaign(self, campaign: str, limit: int = 100) -> list[AuditRecord]:
        return [r for r in self.records if r.campaign == campaign][-limit:]


class RedisAuditLog:
    """A stream per campaign (``<prefix><campaign>``) plus a list per contact of that campaign
    (``<prefix><campaign>:c:<contact>``) holding the same records, written in one transaction.

    Nothing is trimmed by default: an audit trail that forgets is not one.  Retention, if a
    deployment wants it, is ``stream_maxlen`` (approximate) and ``contact_ttl_s``.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = "obz:audit:",
        stream_maxlen: int | None = None,
        contact_ttl_s: int | None = None,
    ) -> None:
        self._r = client
        self._prefix = prefix
        self._maxlen = stream_maxlen
        self._ttl = contact_ttl_s

    def _stream(self, campaign: str) -> str:
        return f"{self._prefix}{campaign}"

    def _contact(self, campaign: str, contact: str) -> str:
        return f"{self._prefix}{campaign}:c:{contact}"

    async def append(self, record: AuditRecord) -> None:
        raw = record.to_json()
        async with self._r.pipeline(transaction=True) as p:
            p.xadd(
                self._stream(record.campaign),
                {"contact": record.contact, "record": raw},
                maxlen=self._maxlen,
                approximate=True,
            )
            ckey = self._contact(record.campaign, record.contact)
            p.rpush(ckey, raw)
            if self._ttl is not None:
                p.expire(ckey, self._ttl)
            await p.execute()

    async def for_contact(self, campaign: str, contact: str, limit: int = 100) -> list[AuditRecord]:
        raws = await self._r.lrange(self._contact(campaign, contact), -limit, -1)
        return [AuditRecord.from_json(r) for r in raws]

    async def for_campaign(self, campaign: str, limit: int = 100) -> list[AuditRecord]:
        entries = await self._r.xrevrange(self._stream(campaign), count=limit)
        out: list[AuditRecord] = []
        for _id, fields in reversed(entries or []):
            if not fields:
                continue
            # The client may or may not decode responses; accept both.
            raw = fields.get(b"record", fields.get("record"))
            if raw is not None:
                out.append(AuditRecord.from_json(raw))
        return out
