"""Do-not-call lists: one global (the platform's) and one per tenant, keyed by E.164.

Every entry records who made it (:class:`DncSource`).  An entry the callee made by opting out in a
call is not the tenant's: :meth:`DncRegistry.remove_many` refuses it, and only
:meth:`DncRegistry.lift_opt_out` with a newer consent record lifts it.  Every change is audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import phonenumbers
import redis.asyncio as aioredis

from .windows import InvalidNumberError

GLOBAL = None  # scope of the platform-wide list; a tenant id names a tenant's list


def normalize(raw: str, default_region: str | None = None) -> str:
    """E.164 form of ``raw``.

    DNC accepts any *possible* number, not only numbers valid under today's numbering plan:
    refusing to block a number because metadata is stale would be the wrong way to fail.
    """
    try:
        num = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as e:
        raise InvalidNumberError(f"{raw!r}: {e}") from None
    if not phonenumbers.is_possible_number(num):
        raise InvalidNumberError(f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


class DncSource(StrEnum):
    """Who made a DNC entry."""

    UNRECORDED = "unrecorded"  # made before sources were recorded
    CALLEE_OPT_OUT = "callee_opt_out"  # the callee, in a call: the tenant cannot remove it
    TENANT = "tenant"
    ADMIN = "admin"
    IMPORT = "import"


class DncAction(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REMOVE_REFUSED = "remove_refused"  # a removal of a callee's opt-out, refused
    LIFT = "lift"  # a callee's opt-out lifted by a new consent record


class LiftRefusal(StrEnum):
    NOT_LISTED = "not_listed"
    NOT_AN_OPT_OUT = "not_an_opt_out"
    CONSENT_NOT_NEWER = "consent_not_newer"  # the consent predates (or equals) the opt-out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ms(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("DNC times must be timezone-aware")
    return (at - _EPOCH) // timedelta(milliseconds=1)  # integer arithmetic: no float rounding


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class DncEntry:
    number: str
    source: DncSource
    added_at: datetime | None  # None for entries made before this was recorded
    attempt: str = ""  # the call in which the callee opted out

    def describe(self) -> str:
        """Why the tenant may not remove this entry (only asked of callee-made entries)."""
        when = self.added_at.isoformat() if self.added_at else "an unrecorded time"
        return (
            f"{self.number}: the callee asked not to be called (opt-out in call at {when}); "
            "only a new consent record with evidence can lift it"
        )


@dataclass(frozen=True, slots=True)
class DncHit:
    number: str
    scope: str  # "global" or "tenant"
    entry: DncEntry


@dataclass(slots=True)
class BulkResult:
    added: int = 0  # newly added (already listed numbers are not counted)
    invalid: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ConsentEvidence:
    """A callee's new consent to be called: when, how (web form, call recording, paper...) and what."""

    given_at: datetime
    channel: str
    text: str

    def __post_init__(self) -> None:
        if self.given_at.tzinfo is None:
            raise ValueError("consent given_at must be timezone-aware")
        if not self.channel.strip() or not self.text.strip():
            raise ValueError("consent evidence needs a channel and a text")


@dataclass(frozen=True, slots=True)
class DncAuditRecord:
    at: datetime
    action: DncAction
    number: str
    source: DncSource  # who made the entry (for a removal or lift: the entry's maker)
    attempt: str = ""
    reason: str = ""
    consent: ConsentEvidence | None = None

    def fields(self) -> dict[str, str]:
        """The record as a Redis stream entry."""
        out = {
            "at": str(_ms(self.at)),
            "action": self.action.value,
            "number": self.number,
            "source": self.source.value,
            "attempt": self.attempt,
            "reason": self.reason,
        }
        if self.consent is not None:
            c = self.consent
            out["consent"] = json.dumps(
                {"at": _ms(c.given_at), "channel": c.channel, "text": c.text}, ensure_ascii=False
            )
        return out

    @classmethod
    def from_fields(cls, raw: dict[Any, Any]) -> DncAuditRecord:
        f = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        consent = None
        if f.get("consent"):
            c = json.loads(f["consent"])
            consent = ConsentEvidence(_from_ms(int(c["at"])), c["channel"], c["text"])
        return cls(
            at=_from_ms(int(f["at"])),
            action=DncAction(f["action"]),
            number=f["number"],
            source=DncSource(f["source"]),
            attempt=f.get("attempt", ""),
            reason=f.get("reason", ""),
            consent=consent,
        )


@dataclass(frozen=True, slots=True)
class DncAuditPage:
    records: list[DncAuditRecord]  # newest first
    next_cursor: str  # empty on the last page


class CalleeOptOutError(Exception):
    """A removal touched entries the callee made; nothing was removed."""

    def __init__(self, entries: list[DncEntry]) -> None:
        super().__init__("; ".join(e.describe() for e in entries[:3]))
        self.entries = entries


class LiftRefusedError(Exception):
    def __init__(self, refusal: LiftRefusal, entry: DncEntry | None) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal
        self.entry = entry


def _scope_source(tenant: str | None) -> DncSource:
    return DncSource.ADMIN if tenant is GLOBAL else DncSource.TENANT


def _entry_meta(source: DncSource, at: datetime, attempt: str = "") -> str:
    return json.dumps({"source": source.value, "at": _ms(at), "attempt": attempt}, separators=(",", ":"))


def _entry(number: str, meta: str | bytes | None) -> DncEntry:
    if meta is None:
        return DncEntry(number, DncSource.UNRECORDED, None)
    d = json.loads(meta)
    return DncEntry(number, DncSource(d["source"]), _from_ms(int(d["at"])), d.get("attempt", ""))


class DncRegistry(Protocol):
    async def add(
        self,
        number: str,
        tenant: str | None = GLOBAL,
        *,
        source: DncSource | None = None,
        at: datetime | None = None,
        reason: str = "",
    ) -> bool:
        """Adds an entry (source: the admin's on the global list, the tenant's otherwise); True if new.

        An existing entry keeps the source it has: re-adding a callee's opt-out does not make it the tenant's.
        """
        ...

    async def opt_out(self, number: str, tenant: str, *, at: datetime | None = None, attempt: str = "") -> bool:
        """The callee opted out in a call: the entry becomes the callee's (even if the tenant had added it)."""
        ...

    async def remove(self, number: str, tenant: str | None = GLOBAL, *, at: datetime | None = None) -> bool:
        """Removes one entry; raises :class:`CalleeOptOutError` for a callee's opt-out."""
        ...

    async def remove_many(self, numbers: list[str], tenant: str | None = GLOBAL, *, at: datetime | None = None) -> int:
        """All or nothing: if any number is a callee's opt-out, raises :class:`CalleeOptOutError` naming
        them, audits the refusal and removes none.  Returns how many entries were removed."""
        ...

    async def lift_opt_out(
        self, number: str, tenant: str, consent: ConsentEvidence, *, at: datetime | None = None
    ) -> None:
        """Lifts a callee's opt-out with consent given after it; raises :class:`LiftRefusedError`."""
        ...

    async def contains(self, number: str, tenant: str | None = GLOBAL) -> bool:
        """Is the number on exactly this list (global or one tenant's)?"""
        ...

    async def bulk_add(
        self,
        numbers: Iterable[str],
        tenant: str | None = GLOBAL,
        default_region: str | None = None,
        *,
        source: DncSource = DncSource.IMPORT,
        at: datetime | None = None,
        reason: str = "",
    ) -> BulkResult: ...

    async def check(self, number: str, tenant: str) -> DncHit | None:
        """Is calling ``number`` for ``tenant`` barred by the global list or the tenant's own?"""
        ...

    async def audit(self, tenant: str | None = GLOBAL, limit: int = 100, cursor: str = "") -> DncAuditPage:
        """One list's changes, newest first, ``limit`` at a time from ``cursor`` (a page's next_cursor)."""
        ...


@dataclass(slots=True)
class _MemoryList:
    entries: dict[str, DncEntry] = field(default_factory=dict)
    audit: list[DncAuditRecord] = field(default_factory=list)


class MemoryDncRegistry:
    """The same rules as :class:`RedisDncRegistry`, in memory (unit and property tests)."""

    def __init__(self) -> None:
        self._lists: dict[str | None, _MemoryList] = {}

    def _list(self, tenant: str | None) -> _MemoryList:
        return self._lists.setdefault(tenant, _MemoryList())

    def _add(self, e164: str, tenant: str | None, entry: DncEntry, reason: str, overwrite: bool) -> bool:
        lst = self._list(tenant)
        new = e164 not in lst.entries
        if new or overwrite:
            lst.entries[e164] = entry
            assert entry.added_at is not None
            lst.audit.append(DncAuditRecord(entry.added_at, DncAction.ADD, e164, entry.source, entry.attempt, reason))
        return new

    async def add(
        self,
        number: str,
        tenant: str | None = GLOBAL,
        *,
        source: DncSource | None = None,
        at: datetime | None = None,
        reason: str = "",
    ) -> bool:
        e164 = normalize(number)
        entry = DncEntry(e164, source or _scope_source(tenant), at or _utc_now())
        return self._add(e164, tenant, entry, reason, overwrite=False)

    async def opt_out(self, number: str, tenant: str, *, at: datetime | None = None, attempt: str = "") -> bool:
        e164 = normalize(number)
        entry = DncEntry(e164, DncSource.CALLEE_OPT_OUT, at or _utc_now(), attempt)
        return self._add(e164, tenant, entry, "", overwrite=True)

    async def remove(self, number: str, tenant: str | None = GLOBAL, *, at: datetime | None = None) -> bool:
        return await self.remove_many([number], tenant, at=at) == 1

    async def remove_many(self, numbers: list[str], tenant: str | None = GLOBAL, *, at: datetime | None = None) -> int:
        now = at or _utc_now()
        lst = self._list(tenant)
        e164s = list(dict.fromkeys(normalize(n) for n in numbers))
        protected = [
            lst.entries[n] for n in e164s if n in lst.entries and lst.entries[n].source is DncSource.CALLEE_OPT_OUT
        ]
        if protected:
            lst.audit.extend(DncAuditRecord(now, DncAction.REMOVE_REFUSED, e.number, e.source) for e in protected)
            raise CalleeOptOutError(protected)
        removed = 0
        for n in e164s:
            entry = lst.entries.pop(n, None)
            if entry is not None:
                removed += 1
                lst.audit.append(DncAuditRecord(now, DncAction.REMOVE, n, entry.source))
        return removed

    async def lift_opt_out(
        self, number: str, tenant: str, consent: ConsentEvidence, *, at: datetime | None = None
    ) -> None:
        e164 = normalize(number)
        lst = self._list(tenant)
        entry = lst.entries.get(e164)
        if entry is None:
            raise LiftRefusedError(LiftRefusal.NOT_LISTED, None)
        if entry.source is not DncSource.CALLEE_OPT_OUT or entry.added_at is None:
            raise LiftRefusedError(LiftRefusal.NOT_AN_OPT_OUT, entry)
        if _ms(consent.given_at) <= _ms(entry.added_at):
            raise LiftRefusedError(LiftRefusal.CONSENT_NOT_NEWER, entry)
        del lst.entries[e164]
        lst.audit.append(DncAuditRecord(at or _utc_now(), DncAction.LIFT, e164, entry.source, consent=consent))

    async def contains(self, number: str, tenant: str | None = GLOBAL) -> bool:
        return normalize(number) in self._list(tenant).entries

    async def bulk_add(
        self,
        numbers: Iterable[str],
        tenant: str | None = GLOBAL,
        default_region: str | None = None,
        *,
        source: DncSource = DncSource.IMPORT,
        at: datetime | None = None,
        reason: str = "",
    ) -> BulkResult:
        res = BulkResult()
        now = at or _utc_now()
        for raw in numbers:
            try:
                e164 = normalize(raw, default_region)
            except InvalidNumberError:
                res.invalid.append(raw)
                continue
            res.added += int(self._add(e164, tenant, DncEntry(e164, source, now), reason, overwrite=False))
        return res

    async def check(self, number: str, tenant: str) -> DncHit | None:
        e164 = normalize(number)
        for scope, key in (("global", GLOBAL), ("tenant", tenant)):
            entry = self._list(key).entries.get(e164)
            if entry is not None:
                return DncHit(e164, scope, entry)
        return None

    async def audit(self, tenant: str | None = GLOBAL, limit: int = 100, cursor: str = "") -> DncAuditPage:
        records = self._list(tenant).audit
        # Cursors look like Redis stream ids ("<index>-0"), so the API checks one format for both.
        end = int(cursor.split("-")[0]) if cursor else len(records)
        start = max(0, end - limit)
        page = list(reversed(records[start:end]))
        return DncAuditPage(page, f"{start}-0" if start > 0 else "")


# The Lua scripts keep each change and its audit record atomic: a callee opting out while the tenant
# removes the number can never leave the entry removed, nor a change unaudited.
# KEYS: the list's set, its hash number -> entry meta (json), its audit stream.
_ADD = """
local overwrite = ARGV[1] == '1'
local meta, at, source, attempt, reason = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local added = 0
for i = 7, #ARGV do
  local n = ARGV[i]
  local new = redis.call('SADD', KEYS[1], n) == 1
  if new then added = added + 1 end
  if new or overwrite then
    redis.call('HSET', KEYS[2], n, meta)
    redis.call('XADD', KEYS[3], '*', 'at', at, 'action', 'add', 'number', n, 'source', source,
               'attempt', attempt, 'reason', reason)
  end
end
return added
"""

_REMOVE = """
local at, protected = ARGV[1], ARGV[2]
local refused = {}
for i = 3, #ARGV do
  local n = ARGV[i]
  local meta = redis.call('HGET', KEYS[2], n)
  if meta and redis.call('SISMEMBER', KEYS[1], n) == 1 and cjson.decode(meta)['source'] == protected then
    table.insert(refused, n)
    table.insert(refused, meta)
  end
end
if #refused > 0 then
  for j = 1, #refused, 2 do
    redis.call('XADD', KEYS[3], '*', 'at', at, 'action', 'remove_refused', 'number', refused[j],
               'source', protected, 'attempt', '', 'reason', '')
  end
  return {0, refused}
end
local removed = 0
for i = 3, #ARGV do
  local n = ARGV[i]
  if redis.call('SREM', KEYS[1], n) == 1 then
    local meta = redis.call('HGET', KEYS[2], n)
    local source = 'unrecorded'
    if meta then source = cjson.decode(meta)['source'] end
    redis.call('HDEL', KEYS[2], n)
    redis.call('XADD', KEYS[3], '*', 'at', at, 'action', 'remove', 'number', n, 'source', source,
               'attempt', '', 'reason', '')
    removed = removed + 1
  end
end
return {removed, {}}
"""

_LIFT = """
local n, consent_ms, consent, at, protected = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
if redis.call('SISMEMBER', KEYS[1], n) == 0 then return {'not_listed', ''} end
local meta = redis.call('HGET', KEYS[2], n)
if not meta then return {'not_an_opt_out', ''} end
local entry = cjson.decode(meta)
if entry['source'] ~= protected then return {'not_an_opt_out', meta} end
if consent_ms <= tonumber(entry['at']) then return {'consent_not_newer', meta} end
redis.call('SREM', KEYS[1], n)
redis.call('HDEL', KEYS[2], n)
redis.call('XADD', KEYS[3], '*', 'at', at, 'action', 'lift', 'number', n, 'source', protected,
           'attempt', entry['attempt'] or '', 'reason', '', 'consent', consent)
return {'lifted', meta}
"""


def _text(v: str | bytes) -> str:
    return v.decode() if isinstance(v, bytes) else v


class RedisDncRegistry:
    """Per list (``<prefix>global`` or ``<prefix>t:<tenant>``): a set of numbers (O(1) membership, the
    admission hot path), a hash ``<list>:src`` number -> who made the entry and when, and a stream
    ``<list>:audit`` of every change.  Nothing is trimmed: an audit that forgets is not one."""

    _CHUNK = 1000

    def __init__(self, client: aioredis.Redis, prefix: str = "obz:dnc:") -> None:
        self._r = client
        self._prefix = prefix
        self._add_script = client.register_script(_ADD)
        self._remove_script = client.register_script(_REMOVE)
        self._lift_script = client.register_script(_LIFT)

    def _key(self, tenant: str | None) -> str:
        return f"{self._prefix}global" if tenant is None else f"{self._prefix}t:{tenant}"

    def _keys(self, tenant: str | None) -> list[str]:
        key = self._key(tenant)
        return [key, f"{key}:src", f"{key}:audit"]

    async def _add(
        self,
        numbers: list[str],
        tenant: str | None,
        entry_source: DncSource,
        at: datetime,
        attempt: str,
        reason: str,
        overwrite: bool,
    ) -> int:
        args = [
            "1" if overwrite else "0",
            _entry_meta(entry_source, at, attempt),
            str(_ms(at)),
            entry_source.value,
            attempt,
            reason,
        ]
        return int(await self._add_script(keys=self._keys(tenant), args=[*args, *numbers]))

    async def add(
        self,
        number: str,
        tenant: str | None = GLOBAL,
        *,
        source: DncSource | None = None,
        at: datetime | None = None,
        reason: str = "",
    ) -> bool:
        src = source or _scope_source(tenant)
        return await self._add([normalize(number)], tenant, src, at or _utc_now(), "", reason, overwrite=False) == 1

    async def opt_out(self, number: str, tenant: str, *, at: datetime | None = None, attempt: str = "") -> bool:
        e164 = normalize(number)
        return (
            await self._add([e164], tenant, DncSource.CALLEE_OPT_OUT, at or _utc_now(), attempt, "", overwrite=True)
            == 1
        )

    async def remove(self, number: str, tenant: str | None = GLOBAL, *, at: datetime | None = None) -> bool:
        return await self.remove_many([number], tenant, at=at) == 1

    async def remove_many(self, numbers: list[str], tenant: str | None = GLOBAL, *, at: datetime | None = None) -> int:
        e164s = list(dict.fromkeys(normalize(n) for n in numbers))
        args = [str(_ms(at or _utc_now())), DncSource.CALLEE_OPT_OUT.value, *e164s]
        removed, refused = await self._remove_script(keys=self._keys(tenant), args=args)
        if refused:
            raise CalleeOptOutError([_entry(_text(refused[i]), refused[i + 1]) for i in range(0, len(refused), 2)])
        return int(removed)

    async def lift_opt_out(
        self, number: str, tenant: str, consent: ConsentEvidence, *, at: datetime | None = None
    ) -> None:
        e164 = normalize(number)
        evidence = DncAuditRecord(_utc_now(), DncAction.LIFT, e164, DncSource.CALLEE_OPT_OUT, consent=consent).fields()
        args = [
            e164,
            str(_ms(consent.given_at)),
            evidence["consent"],
            str(_ms(at or _utc_now())),
            DncSource.CALLEE_OPT_OUT.value,
        ]
        outcome, meta = await self._lift_script(keys=self._keys(tenant), args=args)
        if _text(outcome) != "lifted":
            raise LiftRefusedError(LiftRefusal(_text(outcome)), _entry(e164, meta) if meta else None)

    async def contains(self, number: str, tenant: str | None = GLOBAL) -> bool:
        return bool(await self._r.sismember(self._key(tenant), normalize(number)))

    async def bulk_add(
        self,
        numbers: Iterable[str],
        tenant: str | None = GLOBAL,
        default_region: str | None = None,
        *,
        source: DncSource = DncSource.IMPORT,
        at: datetime | None = None,
        reason: str = "",
    ) -> BulkResult:
        res = BulkResult()
        now = at or _utc_now()
        chunk: list[str] = []
        for raw in numbers:
            try:
                chunk.append(normalize(raw, default_region))
            except InvalidNumberError:
                res.invalid.append(raw)
                continue
            if len(chunk) >= self._CHUNK:
                res.added += await self._add(chunk, tenant, source, now, "", reason, overwrite=False)
                chunk = []
        if chunk:
            res.added += await self._add(chunk, tenant, source, now, "", reason, overwrite=False)
        return res

    async def check(self, number: str, tenant: str) -> DncHit | None:
        e164 = normalize(number)
        glob, mine = self._key(GLOBAL), self._key(tenant)
        async with self._r.pipeline(transaction=False) as p:
            p.sismember(glob, e164)
            p.sismember(mine, e164)
            p.hget(f"{glob}:src", e164)
            p.hget(f"{mine}:src", e164)
            in_global, in_tenant, global_meta, tenant_meta = await p.execute()
        if in_global:
            return DncHit(e164, "global", _entry(e164, global_meta))
        if in_tenant:
            return DncHit(e164, "tenant", _entry(e164, tenant_meta))
        return None

    async def audit(self, tenant: str | None = GLOBAL, limit: int = 100, cursor: str = "") -> DncAuditPage:
        stream = f"{self._key(tenant)}:audit"
        entries = await self._r.xrevrange(stream, max=f"({cursor}" if cursor else "+", min="-", count=limit + 1) or []
        page = [(_text(entry_id or b""), fields or {}) for entry_id, fields in entries[:limit]]
        records = [DncAuditRecord.from_fields(fields) for _id, fields in page]
        return DncAuditPage(records, page[-1][0] if len(entries) > limit else "")
