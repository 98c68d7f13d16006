"""Do-not-call lists: one global (the platform's) and one per tenant, keyed by E.164."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class DncHit:
    number: str
    scope: str  # "global" or "tenant"


@dataclass(slots=True)
class BulkResult:
    added: int = 0  # newly added (already listed numbers are not counted)
    invalid: list[str] = field(default_factory=list)


class DncRegistry(Protocol):
    async def add(self, number: str, tenant: str | None = GLOBAL) -> bool: ...
    async def remove(self, number: str, tenant: str | None = GLOBAL) -> bool: ...
    async def contains(self, number: str, tenant: str | None = GLOBAL) -> bool:
        """Is the number on exactly this list (global or one tenant's)?"""
        ...

    async def bulk_add(
        self, numbers: Iterable[str], tenant: str | None = GLOBAL, default_region: str | None = None
    ) -> BulkResult: ...

    async def check(self, number: str, tenant: str) -> DncHit | None:
        """Is calling ``number`` for ``tenant`` barred by the global list or the tenant's own?"""
        ...


class MemoryDncRegistry:
    def __init__(self) -> None:
        self._lists: dict[str | None, set[str]] = {}

    async def add(self, number: str, tenant: str | None = GLOBAL) -> bool:
        e164 = normalize(number)
        s = self._lists.setdefault(tenant, set())
        if e164 in s:
            return False
        s.add(e164)
        return True

    async def remove(self, number: str, tenant: str | None = GLOBAL) -> bool:
        e164 = normalize(number)
        s = self._lists.get(tenant, set())
        if e164 not in s:
            return False
        s.discard(e164)
        return True

    async def contains(self, number: str, tenant: str | None = GLOBAL) -> bool:
        return normalize(number) in self._lists.get(tenant, set())

    async def bulk_add(
        self, numbers: Iterable[str], tenant: str | None = GLOBAL, default_region: str | None = None
    ) -> BulkResult:
        res = BulkResult()
        s = self._lists.setdefault(tenant, set())
        for raw in numbers:
            try:
                e164 = normalize(raw, default_region)
            except InvalidNumberError:
                res.invalid.append(raw)
                continue
            if e164 not in s:
                s.add(e164)
                res.added += 1
        return res

    async def check(self, number: str, tenant: str) -> DncHit | None:
        e164 = normalize(number)
        if e164 in self._lists.get(GLOBAL, set()):
            return DncHit(e164, "global")
        if e164 in self._lists.get(tenant, set()):
            return DncHit(e164, "tenant")
        return None


class RedisDncRegistry:
    """One Redis set per list: ``<prefix>global`` and ``<prefix>t:<tenant>``."""

    _CHUNK = 1000

    def __init__(self, client: aioredis.Redis, prefix: str = "obz:dnc:") -> None:
        self._r = client
        self._prefix = prefix

    def _key(self, tenant: str | None) -> str:
        return f"{self._prefix}global" if tenant is None else f"{self._prefix}t:{tenant}"

    async def add(self, number: str, tenant: str | None = GLOBAL) -> bool:
        return int(await self._r.sadd(self._key(tenant), normalize(number))) == 1

    async def remove(self, number: str, tenant: str | None = GLOBAL) -> bool:
        return int(await self._r.srem(self._key(tenant), normalize(number))) == 1

    async def contains(self, number: str, tenant: str | None = GLOBAL) -> bool:
        return bool(await self._r.sismember(self._key(tenant), normalize(number)))

    async def bulk_add(
        self, numbers: Iterable[str], tenant: str | None = GLOBAL, default_region: str | None = None
    ) -> BulkResult:
        res = BulkResult()
        chunk: list[str] = []
        key = self._key(tenant)
        for raw in numbers:
            try:
                chunk.append(normalize(raw, default_region))
            except InvalidNumberError:
                res.invalid.append(raw)
                continue
            if len(chunk) >= self._CHUNK:
                res.added += int(await self._r.sadd(key, *chunk))
                chunk = []
        if chunk:
            res.added += int(await self._r.sadd(key, *chunk))
        return res

    async def check(self, number: str, tenant: str) -> DncHit | None:
        e164 = normalize(number)
        async with self._r.pipeline(transaction=False) as p:
            p.sismember(self._key(GLOBAL), e164)
            p.sismember(self._key(tenant), e164)
            in_global, in_tenant = await p.execute()
        if in_global:
            return DncHit(e164, "global")
        if in_tenant:
            return DncHit(e164, "tenant")
        return None
