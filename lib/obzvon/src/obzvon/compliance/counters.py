"""Interaction counters with race-free check-and-reserve.

Admission *reserves* a slot in every counter the call could end up counting in (230-FZ
conversations, voice messages, the cross-tenant frequency cap) in one atomic step: either all
are below their limit and all are incremented, or nothing changes.  After the call,
:meth:`CounterStore.settle` keeps the slots the outcome really used and gives back the rest, once
per reservation however often the outcome is redelivered.  A reservation that is never settled
(dialer lost) keeps its slots: an unknown outcome is counted, never forgotten.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import redis.asyncio as aioredis


class Outcome(StrEnum):
    """How a call ended, as far as the counters care."""

    NOT_PLACED = "not_placed"  # no INVITE was sent (refused by the last checks, expired, not claimed)
    NOT_CONNECTED = "not_connected"  # an INVITE was sent: busy, no answer, rejected, failed
    ANSWERED = "answered"  # a person answered (the robot spoke to them, maybe transferred)
    VOICE_MESSAGE = "voice_message"  # a machine answered and a message was left
    MACHINE = "machine"  # a machine answered, hung up without a message


@dataclass(frozen=True, slots=True)
class Bucket:
    """One counter a call may count in.

    ``reserve`` says whether admission must hold a slot (checked against ``limit``); a bucket
    that is not reserved is only recorded so that settling can count an outcome that admission
    did not expect (e.g. a voice message left by a campaign that said it would not leave one).
    """

    key: str
    limit: int | None
    ttl_s: int
    counts_on: frozenset[Outcome]
    reserve: bool = True
    rule: str = ""  # the Rule value reported when this bucket is full

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.key,
            "l": self.limit,
            "t": self.ttl_s,
            "o": sorted(self.counts_on),
            "r": 1 if self.reserve else 0,
            "u": self.rule,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Bucket:
        return cls(d["k"], d["l"], int(d["t"]), frozenset(Outcome(o) for o in d["o"]), bool(d["r"]), d["u"])


@dataclass(frozen=True, slots=True)
class ReserveResult:
    ok: bool
    full: Bucket | None = None  # the first bucket at its limit when not ok
    replay: bool = False  # the reservation id was already reserved: nothing counted twice


class CounterStore(Protocol):
    async def reserve(self, reservation_id: str, buckets: Sequence[Bucket], ttl_s: int) -> ReserveResult: ...

    async def settle(self, reservation_id: str, outcome: Outcome) -> bool:
        """Apply ``outcome`` to a pending reservation; False if unknown or already settled."""
        ...

    async def count(self, key: str) -> int: ...


def _payload(buckets: Sequence[Bucket]) -> str:
    return json.dumps([b.to_json() for b in buckets], separators=(",", ":"))


class MemoryCounterStore:
    """In-process store for tests and single-process tools; same semantics as Redis."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._reservations: dict[str, tuple[str, list[Bucket]]] = {}
        # Reserve is check-then-act; a lock keeps it atomic across awaiting coroutines.
        self._lock = asyncio.Lock()

    async def reserve(self, reservation_id: str, buckets: Sequence[Bucket], ttl_s: int) -> ReserveResult:
        async with self._lock:
            if reservation_id in self._reservations:
                return ReserveResult(True, replay=True)
            for b in buckets:
                if b.reserve and b.limit is not None and self._counts.get(b.key, 0) + 1 > b.limit:
                    return ReserveResult(False, full=b)
            for b in buckets:
                if b.reserve:
                    self._counts[b.key] = self._counts.get(b.key, 0) + 1
            self._reservations[reservation_id] = ("pending", list(buckets))
            return ReserveResult(True)

    async def settle(self, reservation_id: str, outcome: Outcome) -> bool:
        async with self._lock:
            entry = self._reservations.get(reservation_id)
            if entry is None or entry[0] != "pending":
                return False
            for b in entry[1]:
                counted = outcome in b.counts_on
                if b.reserve and not counted:
                    self._counts[b.key] = max(0, self._counts.get(b.key, 0) - 1)
                elif counted and not b.reserve:
                    self._counts[b.key] = self._counts.get(b.key, 0) + 1
            self._reservations[reservation_id] = ("settled", entry[1])
            return True

    async def count(self, key: str) -> int:
        return self._counts.get(key, 0)


# KEYS[1] reservation record; KEYS[2..] bucket keys in payload order.
# ARGV[1] reservation ttl, ARGV[2] payload JSON.
# Returns 0 reserved, -1 replay, i >= 1 the 1-based index of the first full bucket.
_RESERVE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local buckets = cjson.decode(ARGV[2])
for i, b in ipairs(buckets) do
  if b.r == 1 and b.l ~= cjson.null then
    local c = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
    if c + 1 > b.l then return i end
  end
end
for i, b in ipairs(buckets) do
  if b.r == 1 then
    redis.call('INCR', KEYS[i + 1])
    redis.call('EXPIRE', KEYS[i + 1], b.t)
  end
end
redis.call('SET', KEYS[1], cjson.encode({s = 'pending', b = buckets}), 'EX', ARGV[1])
return 0
"""

# KEYS[1] reservation record; ARGV[1] outcome, ARGV[2] key prefix.
# Returns 1 settled, 0 unknown or already settled.
# Bucket keys come from the stored record; all of them share the caller's Redis (no cluster).
_SETTLE_LUA = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.s ~= 'pending' then return 0 end
for _, b in ipairs(rec.b) do
  local counted = false
  for _, o in ipairs(b.o) do if o == ARGV[1] then counted = true end end
  if b.r == 1 and not counted then
    local c = tonumber(redis.call('GET', ARGV[2] .. b.k) or '0')
    if c > 0 then redis.call('DECR', ARGV[2] .. b.k) end
  elseif counted and b.r ~= 1 then
    redis.call('INCR', ARGV[2] .. b.k)
    redis.call('EXPIRE', ARGV[2] .. b.k, b.t)
  end
end
rec.s = ARGV[1]
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
return 1
"""


class RedisCounterStore:
    """Counters in Redis; reserve and settle are single Lua scripts, hence atomic.

    Needs a single Redis (or every key in one slot): a script touches several counter keys.
    """

    def __init__(self, client: aioredis.Redis, prefix: str = "obz:cmp:") -> None:
        self._r = client
        self._prefix = prefix
        self._reserve = client.register_script(_RESERVE_LUA)
        self._settle = client.register_script(_SETTLE_LUA)

    def _res_key(self, reservation_id: str) -> str:
        return f"{self._prefix}res:{reservation_id}"

    async def reserve(self, reservation_id: str, buckets: Sequence[Bucket], ttl_s: int) -> ReserveResult:
        keys = [self._res_key(reservation_id), *(self._prefix + b.key for b in buckets)]
        rc = int(await self._reserve(keys=keys, args=[ttl_s, _payload(buckets)]))
        if rc == 0:
            return ReserveResult(True)
        if rc == -1:
            return ReserveResult(True, replay=True)
        return ReserveResult(False, full=buckets[rc - 1])

    async def settle(self, reservation_id: str, outcome: Outcome) -> bool:
        rc = await self._settle(keys=[self._res_key(reservation_id)], args=[outcome.value, self._prefix])
        return int(rc) == 1

    async def count(self, key: str) -> int:
        v = await self._r.get(self._prefix + key)
        return int(v) if v is not None else 0
