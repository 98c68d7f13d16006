"""The faust-streaming app: call events re-keyed by campaign, counted in a table.

Processing is at least once: after a crash, events since the last commit come again (and the
re-keying step may forward them twice). A second table, keyed by attempt, remembers the highest
sequence counted of each attempt (counting.count_exactly), so a redelivered event is recognised
however late it comes. The tables are the source of truth; every update is also written to Redis as
a read view for the gRPC API (the report, and the attempt's call record), so any reporting instance
can answer for any campaign. docs/reporting.md says why the view equals the table.
"""

from __future__ import annotations

import json
import logging
import time

import faust
from obzvon import keys
from obzvon.topics import CALL_EVENTS
from obzvon.v1 import events_pb2
from redis.asyncio import Redis

from obzvon_reporting import records
from obzvon_reporting.counting import AttemptProgress, campaign_key, count_exactly, empty_report, progress_key
from obzvon_reporting.memory import AttemptMemory, stamped
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
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=settings.broker_heartbeat_interval_s,
    )
    call_events = app.topic(
        CALL_EVENTS.full_name(settings.topic_prefix),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    reports = app.Table("campaign-reports", default=empty_report, partitions=CALL_EVENTS.partitions)
    # Keyed by attempt but written only from the campaign-keyed stream below, so each entry's changelog
    # partition is its campaign's (faust writes a table's changelog to the current event's partition).
    attempts = app.Table("attempt-progress", default=dict, partitions=CALL_EVENTS.partitions)
    memory = AttemptMemory(attempts, settings.attempt_memory_s)
    redis = Redis.from_url(settings.redis_url)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def forget_partition_order(app: faust.App, *args: object, **kwargs: object) -> None:
        memory.reset()

    @app.agent(call_events)
    async def count_events(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream.group_by(_campaign_of, name="call-events-by-campaign"):
            event = events_pb2.CallEvent()
            event.ParseFromString(raw)
            campaign = campaign_key(event)
            key = progress_key(event)
            counting = count_exactly(reports[campaign], AttemptProgress.from_dict(attempts[key]), event)
            if not counting.counted:
                continue  # a redelivered event
            # Redis first: a crash before the tables are set redelivers the event, which is then counted
            # in the tables and written to Redis again, the same value (docs/reporting.md).
            async with redis.pipeline(transaction=True) as pipe:
                pipe.set(keys.report_view(event.tenant_id, event.campaign_id), json.dumps(counting.report))
                if records.kept(event):
                    records.save(pipe, event, settings.call_record_ttl_s)
                await pipe.execute()
            reports[campaign] = counting.report
            partition = faust.current_event().message.partition  # type: ignore[union-attr]
            now_ns = time.time_ns()
            attempts[key] = stamped(counting.progress.as_dict(), partition, now_ns)
            memory.touched(partition, key, now_ns)

    app.obzvon_reports = reports  # type: ignore[attr-defined]
    return app
