"""Each tenant's API calls are rate-limited: one tenant calling in a loop cannot stall the others.

A token bucket per tenant in Redis (so every scheduler replica draws from the same bucket), refilled
at `api_rate_per_s` up to `api_burst`. A call with no token left is RESOURCE_EXHAUSTED with a
google.rpc.RetryInfo saying when a token will be there. The admin key is not limited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from obzvon import keys
from obzvon.auth import ADMIN, Authenticator
from obzvon.errors import resource_exhausted_status
from redis.asyncio import Redis

# KEYS[1] the bucket; ARGV[1] rate per second, ARGV[2] burst. Returns the wait in seconds ("0": taken).
# Redis's own clock, so replicas with skewed clocks share one bucket fairly.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    # When the next token is there (seconds); 0 when allowed.
    retry_after_s: float = 0.0


class TenantRateLimiter:
    def __init__(self, redis: Redis, rate_per_s: float, burst: int) -> None:
        self._rate = rate_per_s
        self._burst = max(1, burst)
        self._take = redis.register_script(_TAKE)

    async def take(self, tenant_id: str) -> RateDecision:
        wait = float(await self._take(keys=[keys.api_rate(tenant_id)], args=[self._rate, self._burst]))
        return RateDecision(allowed=wait <= 0, retry_after_s=wait)


class RateLimitedAuthenticator(Authenticator):
    """The Authenticator every API of the scheduler uses: a tenant's call spends a token first."""

    def __init__(self, *args: Any, limiter: TenantRateLimiter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limiter = limiter

    async def caller(self, context: grpc.aio.ServicerContext[object, object]) -> str:
        caller = await super().caller(context)
        if caller == ADMIN:
            return caller
        decision = await self._limiter.take(caller)
        if not decision.allowed:
            await context.abort_with_status(
                resource_exhausted_status(
                    f"tenant {caller} is over its API rate; retry in {decision.retry_after_s:.2f} s",
                    decision.retry_after_s,
                )
            )
        return caller
