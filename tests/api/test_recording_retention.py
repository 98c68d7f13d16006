"""Recordings are deleted after their campaign's retention (issue 12): S3Proxy's filesystem backend has
no lifecycle rules, so the scheduler sweeps (obzvon_scheduler.recordings.sweep); Redis and files are real."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

from obzvon.recordings import FolderRecordingStore, RecordingKey
from obzvon.v1 import campaigns_pb2, tenants_pb2
from obzvon_scheduler.recordings import sweep
from obzvon_scheduler.store import Store
from redis.asyncio import Redis

NOW = dt.datetime.now(dt.UTC)


async def test_sweep_deletes_recordings_past_their_campaign_retention(test_redis: str, tmp_path: Path) -> None:
    redis = Redis.from_url(test_redis)
    store = Store(redis)
    tenant_id = f"t-{uuid.uuid4().hex[:8]}"
    await store.put_tenant(tenant_id, tenants_pb2.Tenant(max_recording_retention_days=30))
    week = campaigns_pb2.Campaign(recording=campaigns_pb2.Recording(enabled=True, retention_days=7))
    await store.put_campaign(tenant_id, "week", week)
    default = campaigns_pb2.Campaign(recording=campaigns_pb2.Recording(enabled=True))  # the tenant's 30 days
    await store.put_campaign(tenant_id, "default", default)
    folder = FolderRecordingStore(tmp_path)
    ages = {("week", "a3"): 3, ("week", "a8"): 8, ("default", "a8"): 8, ("default", "a31"): 31}
    for (campaign_id, attempt_id), days in ages.items():
        key = RecordingKey(tenant_id, campaign_id, "k1", attempt_id).key
        await folder.put(key, b"wav")
        then = (NOW - dt.timedelta(days=days)).timestamp()
        os.utime(folder.root / key, (then, then))
    try:
        assert await sweep(folder, store, platform_max_days=365, now=NOW) == 2
        left = [r.key async for r in folder.objects("tenants/")]
        assert sorted(k.split("/")[3] + "/" + k.split("/")[-1] for k in left) == ["default/a8.wav", "week/a3.wav"]
    finally:
        await redis.aclose()
