"""The faust-streaming app: call events re-keyed by campaign, counted in a table.

Processing is at least once: after a crash, events since the last commit come again (and the
re-keying step may forward them twice). Each campaign's table entry remembers the ids of its latest
events, in the same record as its counts, so a redelivered event is recognised and not counted
twice. The table is the source of truth; every update is also written to Redis as a read view for
the gRPC API, so any reporting instance can answer for any campaign.
"""

from __future__ import annotations

import json
import logging

import faust
from obzvon import keys
from obzvon.topics import CALL_EVENTS
from obzvon.v1 import events_pb2
from redis.asyncio import Redis

from obzvon_reporting.counting import campaign_key, count_once, empty_report, report_view
from obzvon_reporting.settings import ReportingSettings

log = logging.getLogger(__name__)


def _campaign_of(value: bytes) -> str:
    event = events_pb2.CallEvent()
    event.ParseFromString(value)
    return campaign_key(event)


def create_app(settings: ReportingSettings) -> faust.App:
    app = faust.App(
        f"{settings.topic_prefix}obzvon-reporting",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=CALL_EVENTS.partitions,
        topic_replication_factor=1,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        datadir=settings.data_dir,
        table_cleanup_interval=60.0,
    )
    call_events = app.topic(
        CALL_EVENTS.full_name(settings.topic_prefix),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    reports = app.Table("campaign-reports", default=empty_report, partitions=CALL_EVENTS.partitions)
    redis = Redis.from_url(settings.redis_url)

    @app.agent(call_events)
    async def count_events(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream.group_by(_campaign_of, name="call-events-by-campaign"):
            event = events_pb2.CallEvent()
            event.ParseFromString(raw)
            campaign = campaign_key(event)
            counted = count_once(reports[campaign], event, settings.dedup_window)
            if counted is None:
                continue  # a redelivered event
            await redis.set(keys.report_view(event.tenant_id, event.campaign_id), json.dumps(report_view(counted)))
            reports[campaign] = counted

    app.obzvon_reports = reports  # type: ignore[attr-defined]
    return app
