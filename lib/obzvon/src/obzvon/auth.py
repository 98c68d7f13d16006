"""API keys: stored hashed in Redis, sent by clients as `x-api-key` gRPC metadata.

A tenant holds at most :data:`MAX_LIVE_KEYS` keys at once, enough to rotate: create the new key, move
the clients, revoke the old one.  Every call looks its key up in Redis (no cache), so a revoked key is
refused at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
from redis.asyncio import Redis

from obzvon import keys

ADMIN = "__admin__"
METADATA_KEY = "x-api-key"
MAX_LIVE_KEYS = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key(tenant_id: str) -> str:
    return f"obz_{tenant_id}_{secrets.token_urlsafe(24)}"


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A live key as it is listed: never the secret."""

    tenant_id: str
    key_id: str
    create_time: datetime

    @property
    def name(self) -> str:
        return f"tenants/{self.tenant_id}/apiKeys/{self.key_id}"


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    info: ApiKeyInfo
    secret: str  # shown to the caller once; only its hash is stored


class TooManyApiKeysError(Exception):
    pass


class ApiKeyNotFoundError(Exception):
    pass


class LastApiKeyError(Exception):
    """Revoking it would leave the tenant without a key (only the admin may do that)."""


# Atomic, so two concurrent creates cannot make a third live key, and a revoke deletes exactly the key
# it checked.  KEYS: the tenant's key hash, apikey:<digest>.
_CREATE = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4])
return 1
"""
_REVOKE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 'not_found' end
if ARGV[3] == '1' and redis.call('HLEN', KEYS[1]) <= 1 then return 'last' end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 'revoked'
"""


def _info(tenant_id: str, key_id: str, meta: str | bytes) -> ApiKeyInfo:
    d = json.loads(meta)
    return ApiKeyInfo(tenant_id, key_id, _EPOCH + timedelta(milliseconds=int(d["create_ms"])))


class ApiKeys:
    """The tenants' API keys: ``apikey:<sha256>`` -> tenant id (what authentication reads) and
    ``apikeys:<tenant>`` key id -> {digest, create time} (what is listed and revoked)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._create = redis.register_script(_CREATE)
        self._revoke = redis.register_script(_REVOKE)

    async def create(self, tenant_id: str) -> IssuedApiKey:
        """Raises :class:`TooManyApiKeysError` when the tenant already holds MAX_LIVE_KEYS."""
        secret = new_api_key(tenant_id)
        digest = hash_api_key(secret)
        now = datetime.now(UTC)
        key_id = secrets.token_hex(6)
        meta = json.dumps({"digest": digest, "create_ms": (now - _EPOCH) // timedelta(milliseconds=1)})
        created = await self._create(
            keys=[keys.api_keys(tenant_id), keys.api_key(digest)], args=[MAX_LIVE_KEYS, key_id, meta, tenant_id]
        )
        if not int(created):
            raise TooManyApiKeysError(f"tenants/{tenant_id} already holds {MAX_LIVE_KEYS} live API keys")
        return IssuedApiKey(_info(tenant_id, key_id, meta), secret)

    async def list(self, tenant_id: str) -> list[ApiKeyInfo]:
        """Oldest first."""
        raw = await self._redis.hgetall(keys.api_keys(tenant_id))  # type: ignore[misc]
        found = [_info(tenant_id, k.decode() if isinstance(k, bytes) else k, v) for k, v in raw.items()]
        return sorted(found, key=lambda i: (i.create_time, i.key_id))

    async def revoke(self, tenant_id: str, key_id: str, *, keep_last: bool) -> ApiKeyInfo:
        """Calls with the key are refused from now on.  ``keep_last``: refuse to revoke the tenant's
        last live key (:class:`LastApiKeyError`)."""
        meta = await self._redis.hget(keys.api_keys(tenant_id), key_id)  # type: ignore[misc]
        if meta is None:
            raise ApiKeyNotFoundError(f"tenants/{tenant_id}/apiKeys/{key_id} not found")
        digest = json.loads(meta)["digest"]
        outcome = await self._revoke(
            keys=[keys.api_keys(tenant_id), keys.api_key(digest)], args=[key_id, meta, "1" if keep_last else "0"]
        )
        outcome = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        if outcome == "last":
            raise LastApiKeyError(f"tenants/{tenant_id}/apiKeys/{key_id} is the tenant's last live key")
        if outcome != "revoked":
            raise ApiKeyNotFoundError(f"tenants/{tenant_id}/apiKeys/{key_id} not found")
        return _info(tenant_id, key_id, meta)


class Authenticator:
    """Resolves the caller of an RPC to a tenant id, or ADMIN for the platform's admin key."""

    def __init__(self, redis: Redis, admin_api_key: str) -> None:
        self._redis = redis
        self._admin_hash = hash_api_key(admin_api_key) if admin_api_key else ""

    async def caller(self, context: grpc.aio.ServicerContext[object, object]) -> str:
        supplied = dict(context.invocation_metadata() or ()).get(METADATA_KEY, "")
        if isinstance(supplied, bytes):
            supplied = supplied.decode()
        if not supplied:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"missing {METADATA_KEY} metadata")
        digest = hash_api_key(supplied)
        if self._admin_hash and secrets.compare_digest(digest, self._admin_hash):
            return ADMIN
        # Read on every call, never cached: a revoked key must be refused at once.
        tenant = await self._redis.get(keys.api_key(digest))
        if tenant is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown or revoked API key")
        return tenant.decode() if isinstance(tenant, bytes) else str(tenant)

    async def tenant(self, context: grpc.aio.ServicerContext[object, object]) -> str:
        """A tenant's key is required (the admin key manages tenants, it does not run campaigns)."""
        caller = await self.caller(context)
        if caller == ADMIN:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "use a tenant's API key")
        return caller

    async def admin(self, context: grpc.aio.ServicerContext[object, object]) -> None:
        if await self.caller(context) != ADMIN:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "admin API key required")
