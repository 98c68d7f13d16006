"""Attempt claims: the guard that makes one attempt ring one phone at most once."""

from __future__ import annotations

from obzvon import keys
from redis.asyncio import Redis


class Claims:
    def __init__(self, redis: Redis, owner: str, ttl_s: int) -> None:
        self._redis = redis
        self._owner = owner
        self._ttl_s = ttl_s

    async def claim(self, attempt_id: str) -> bool:
        """True for the first claimant only; every later delivery of the attempt gets False."""
        return bool(await self._redis.set(keys.claim(attempt_id), self._owner, nx=True, ex=self._ttl_s))
