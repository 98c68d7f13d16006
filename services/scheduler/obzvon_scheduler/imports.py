"""A contact upload held aside in Redis while it is checked, so an import's memory in the scheduler
does not grow with its row count, and a malformed row still fails the whole upload (nothing stored).

Rows that passed the checks are appended to a staging list (row number + serialized contact); their
contact ids go to a set that finds duplicates within the upload. Once the stream has ended without a
problem, the staged rows are read back a chunk at a time and stored (campaigns.import_contacts).
Staging keys expire on their own if the scheduler dies mid-upload.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from obzvon import keys
from obzvon.v1 import campaigns_pb2
from redis.asyncio import Redis

from obzvon_scheduler.store import as_bytes

STAGING_TTL_S = 3600
_ROW = struct.Struct(">Q")


@dataclass(frozen=True)
class StagedRow:
    row: int  # 1-based position in the upload
    contact: campaigns_pb2.Contact


@dataclass(frozen=True)
class StageResult:
    # Rows whose contact id an earlier row of the same upload already used.
    duplicates: list[StagedRow]
    # Staged contacts the campaign does not hold yet (they count against its quota).
    new_contacts: int


@dataclass
class ContactUpload:
    redis: Redis
    tenant_id: str
    campaign_id: str
    upload_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def _rows_key(self) -> str:
        return keys.import_staging(self.upload_id)

    @property
    def _ids_key(self) -> str:
        return keys.import_seen(self.upload_id)

    async def stage(self, rows: list[StagedRow]) -> StageResult:
        if not rows:
            return StageResult([], 0)
        async with self.redis.pipeline(transaction=False) as pipe:
            for r in rows:
                pipe.sadd(self._ids_key, r.contact.contact_id)
                pipe.hexists(keys.contacts(self.tenant_id, self.campaign_id), r.contact.contact_id)
            pipe.rpush(self._rows_key, *(_ROW.pack(r.row) + r.contact.SerializeToString() for r in rows))
            pipe.expire(self._ids_key, STAGING_TTL_S)
            pipe.expire(self._rows_key, STAGING_TTL_S)
            results = await pipe.execute()
        duplicates = [r for i, r in enumerate(rows) if not results[2 * i]]
        new = sum(1 for i, r in enumerate(rows) if results[2 * i] and not results[2 * i + 1])
        return StageResult(duplicates, new)

    async def chunks(self, size: int) -> AsyncIterator[list[StagedRow]]:
        start = 0
        while True:
            raw = await self.redis.lrange(self._rows_key, start, start + size - 1)  # type: ignore[misc]
            if not raw:
                return
            out = []
            for item in raw:
                data = as_bytes(item)
                (row,) = _ROW.unpack_from(data)
                out.append(StagedRow(row, campaigns_pb2.Contact.FromString(data[_ROW.size :])))
            yield out
            start += size

    async def discard(self) -> None:
        await self.redis.delete(self._rows_key, self._ids_key)
