"""What the gRPC API and the dashboard read: a tenant's campaign, its report, its call records."""

from __future__ import annotations

import json

from obzvon import keys
from obzvon.v1 import campaigns_pb2, reports_pb2
from redis.asyncio import Redis

from obzvon_reporting.counting import empty_report, to_proto


def as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


async def campaign_of(redis: Redis, tenant_id: str, campaign_id: str) -> campaigns_pb2.Campaign | None:
    """The scheduler's record of the tenant's campaign; None when the tenant has no such campaign."""
    if not campaign_id or "/" in campaign_id:
        return None
    raw = await redis.get(keys.campaign(tenant_id, campaign_id))
    return campaigns_pb2.Campaign.FromString(as_bytes(raw)) if raw else None


async def report_of(redis: Redis, tenant_id: str, campaign_id: str) -> reports_pb2.CampaignReport:
    raw = await redis.get(keys.report_view(tenant_id, campaign_id))
    report = to_proto(f"campaigns/{campaign_id}", json.loads(raw) if raw else empty_report())
    report.contacts = await redis.hlen(keys.contacts(tenant_id, campaign_id))  # type: ignore[misc]
    report.contacts_waiting = await redis.zcard(keys.queue(tenant_id, campaign_id))
    return report
