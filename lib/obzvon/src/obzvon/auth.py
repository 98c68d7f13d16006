"""API keys: stored hashed in Redis, sent by clients as `x-api-key` gRPC metadata."""

from __future__ import annotations

import hashlib
import secrets

import grpc
from redis.asyncio import Redis

from obzvon import keys

ADMIN = "__admin__"
METADATA_KEY = "x-api-key"


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key(tenant_id: str) -> str:
    return f"obz_{tenant_id}_{secrets.token_urlsafe(24)}"


async def store_api_key(redis: Redis, api_key: str, tenant_id: str) -> None:
    await redis.set(keys.api_key(hash_api_key(api_key)), tenant_id)


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
        tenant = await self._redis.get(keys.api_key(digest))
        if tenant is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown API key")
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
