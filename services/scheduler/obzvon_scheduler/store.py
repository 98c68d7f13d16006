"""Campaign state in Redis: tenants, campaigns, contacts, queues and attempts in flight."""

from __future__ import annotations

import time
from collections.abc import Iterable

from obzvon import keys
from obzvon.v1 import campaigns_pb2, tenants_pb2
from redis.asyncio import Redis

# Pops up to N contacts whose next eligible time has come, atomically, so two dispatchers never
# take the same contact.
_POP_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids
"""


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class Store:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._pop_due = redis.register_script(_POP_DUE)

    # tenants
    async def put_tenant(self, tenant_id: str, tenant: tenants_pb2.Tenant) -> None:
        await self.redis.set(keys.tenant(tenant_id), tenant.SerializeToString())

    async def get_tenant(self, tenant_id: str) -> tenants_pb2.Tenant | None:
        raw = await self.redis.get(keys.tenant(tenant_id))
        return tenants_pb2.Tenant.FromString(as_bytes(raw)) if raw else None

    # campaigns
    async def put_campaign(self, tenant_id: str, campaign_id: str, campaign: campaigns_pb2.Campaign) -> None:
        await self.redis.set(keys.campaign(tenant_id, campaign_id), campaign.SerializeToString())

    async def add_campaign_to_index(self, tenant_id: str, campaign_id: str) -> None:
        await self.redis.zadd(keys.campaigns(tenant_id), {campaign_id: time.time()}, nx=True)

    async def get_campaign(self, tenant_id: str, campaign_id: str) -> campaigns_pb2.Campaign | None:
        raw = await self.redis.get(keys.campaign(tenant_id, campaign_id))
        return campaigns_pb2.Campaign.FromString(as_bytes(raw)) if raw else None

    async def list_campaign_ids(self, tenant_id: str, offset: int, limit: int) -> list[str]:
        ids = await self.redis.zrange(keys.campaigns(tenant_id), offset, offset + limit - 1)
        return [_s(c) for c in ids]  # type: ignore[arg-type]

    # contacts
    async def put_contacts(self, tenant_id: str, campaign_id: str, contacts: Iterable[campaigns_pb2.Contact]) -> None:
        mapping = {c.contact_id: c.SerializeToString() for c in contacts}
        if mapping:
            await self.redis.hset(keys.contacts(tenant_id, campaign_id), mapping=mapping)  # type: ignore[arg-type]

    async def get_contact(self, tenant_id: str, campaign_id: str, contact_id: str) -> campaigns_pb2.Contact | None:
        raw = await self.redis.hget(keys.contacts(tenant_id, campaign_id), contact_id)  # type: ignore[misc]
        return campaigns_pb2.Contact.FromString(as_bytes(raw)) if raw else None

    async def contact_ids(self, tenant_id: str, campaign_id: str) -> list[str]:
        return sorted(_s(k) for k in await self.redis.hkeys(keys.contacts(tenant_id, campaign_id)))  # type: ignore[misc]

    async def set_contact_status(self, tenant_id: str, campaign_id: str, contact_id: str, status: str) -> None:
        contact = await self.get_contact(tenant_id, campaign_id, contact_id)
        if contact is not None:
            contact.status = status
            await self.put_contacts(tenant_id, campaign_id, [contact])

    # queue and attempts
    async def enqueue(self, tenant_id: str, campaign_id: str, contact_id: str, at: float) -> None:
        await self.redis.zadd(keys.queue(tenant_id, campaign_id), {contact_id: at})

    async def pop_due(self, tenant_id: str, campaign_id: str, now: float, limit: int) -> list[str]:
        if limit <= 0:
            return []
        ids = await self._pop_due(keys=[keys.queue(tenant_id, campaign_id)], args=[now, limit])
        return [_s(i) for i in ids]

    async def queue_length(self, tenant_id: str, campaign_id: str) -> int:
        return int(await self.redis.zcard(keys.queue(tenant_id, campaign_id)))

    async def add_in_flight(
        self, tenant_id: str, campaign_id: str, attempt_id: str, deadline: float, contact_id: str, attempt_number: int
    ) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.in_flight(tenant_id, campaign_id), attempt_id, deadline)
            pipe.hset(
                keys.attempt(attempt_id),
                mapping={
                    "tenant_id": tenant_id,
                    "campaign_id": campaign_id,
                    "contact_id": contact_id,
                    "attempt_number": attempt_number,
                    "deadline": deadline,
                },
            )
            await pipe.execute()

    async def in_flight(self, tenant_id: str, campaign_id: str) -> dict[str, float]:
        raw = await self.redis.hgetall(keys.in_flight(tenant_id, campaign_id))  # type: ignore[misc]
        return {_s(k): float(v) for k, v in raw.items()}

    async def finish_attempt(self, tenant_id: str, campaign_id: str, attempt_id: str) -> bool:
        """Removes the attempt from flight; False when it was already finished (a duplicate event)."""
        return bool(await self.redis.hdel(keys.in_flight(tenant_id, campaign_id), attempt_id))  # type: ignore[misc]

    async def attempt_info(self, attempt_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(keys.attempt(attempt_id))  # type: ignore[misc]
        return {_s(k): _s(v) for k, v in raw.items()}

    async def running(self) -> list[tuple[str, str]]:
        members = await self.redis.smembers(keys.running_campaigns())  # type: ignore[misc]
        return [tuple(_s(m).split("/", 1)) for m in members]  # type: ignore[misc]

    async def set_running(self, tenant_id: str, campaign_id: str, running: bool) -> None:
        member = keys.running_member(tenant_id, campaign_id)
        if running:
            await self.redis.sadd(keys.running_campaigns(), member)  # type: ignore[misc]
        else:
            await self.redis.srem(keys.running_campaigns(), member)  # type: ignore[misc]
