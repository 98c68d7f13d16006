"""Call recordings on the scheduler's side: the campaign's setting, the tenant's reads and deletes, retention.

Every key is built from the caller's own tenant (obzvon.recordings.RecordingKey), so another tenant's
recording is simply not there: NOT_FOUND, as everywhere in the API. S3Proxy's filesystem backend has
no lifecycle rules, and a tenant's retention differs per campaign, so retention is a periodic sweep
here rather than a bucket rule.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from obzvon.errors import FieldViolation
from obzvon.recordings import RecordingKey, RecordingStore
from obzvon.v1 import campaigns_pb2, tenants_pb2

from obzvon_scheduler.store import Store

log = logging.getLogger(__name__)


def retention_limit(tenant: tenants_pb2.Tenant, platform_max_days: int) -> int:
    """The longest retention the tenant's campaigns may set: its own maximum, never past the platform's."""
    own = tenant.max_recording_retention_days
    return min(own, platform_max_days) if own > 0 else platform_max_days


def check_recording(
    campaign: campaigns_pb2.Campaign, tenant: tenants_pb2.Tenant, platform_max_days: int
) -> list[FieldViolation]:
    days = campaign.recording.retention_days
    limit = retention_limit(tenant, platform_max_days)
    if days < 0 or days > limit:
        return [FieldViolation("campaign.recording.retention_days", f"0 (the tenant's maximum) to {limit} days")]
    return []


def check_tenant_retention(tenant: tenants_pb2.Tenant, platform_max_days: int) -> list[FieldViolation]:
    days = tenant.max_recording_retention_days
    if days < 0 or days > platform_max_days:
        return [
            FieldViolation("tenant.max_recording_retention_days", f"0 (the platform's) to {platform_max_days} days")
        ]
    return []


async def sweep(store: RecordingStore, campaigns: Store, platform_max_days: int, now: dt.datetime) -> int:
    """Deletes every recording older than its campaign's retention (a deleted campaign's: the platform's); how many."""
    retention: dict[tuple[str, str], int] = {}
    expired: list[str] = []
    async for stored in store.objects("tenants/"):
        try:
            key = RecordingKey.parse(stored.key)
        except ValueError:
            continue  # not one of ours
        owner = (key.tenant_id, key.campaign_id)
        if owner not in retention:
            tenant = await campaigns.get_tenant(key.tenant_id)
            campaign = await campaigns.get_campaign(key.tenant_id, key.campaign_id)
            limit = retention_limit(tenant, platform_max_days) if tenant is not None else platform_max_days
            days = campaign.recording.retention_days if campaign is not None else 0
            retention[owner] = min(days, limit) if days > 0 else limit
        if stored.modified < now - dt.timedelta(days=retention[owner]):
            expired.append(stored.key)
    await store.delete(expired)
    if expired:
        log.info("expired recordings deleted", extra={"recordings": len(expired)})
    return len(expired)


async def keep_sweeping(
    store: RecordingStore, campaigns: Store, platform_max_days: int, interval_s: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await sweep(store, campaigns, platform_max_days, dt.datetime.now(dt.UTC))
        except Exception:
            # A store that is down now is swept at the next round; the API keeps serving meanwhile.
            log.exception("recording sweep failed")
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            pass
