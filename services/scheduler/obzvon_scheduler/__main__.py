"""`obzvon-scheduler serve`: the public gRPC API, the dispatcher and the outcome consumer."""

from __future__ import annotations

import argparse
import asyncio
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from obzvon.bus import Consumer, Producer, ensure_topics
from obzvon.recordings import open_store
from obzvon.runtime import run_service
from obzvon.topics import CALL_EVENTS
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, dnc_pb2, dnc_pb2_grpc, tenants_pb2, tenants_pb2_grpc
from redis.asyncio import Redis

from obzvon_scheduler.admission import Admission
from obzvon_scheduler.api import CampaignApi, TenantApi
from obzvon_scheduler.campaigns import CampaignControl
from obzvon_scheduler.dispatcher import Dispatcher
from obzvon_scheduler.dnc_api import DncApi
from obzvon_scheduler.outcomes import OutcomeConsumer
from obzvon_scheduler.ratelimit import RateLimitedAuthenticator, TenantRateLimiter
from obzvon_scheduler.recordings import keep_sweeping
from obzvon_scheduler.settings import SchedulerSettings
from obzvon_scheduler.store import Store

log = logging.getLogger("obzvon_scheduler")


async def serve(settings: SchedulerSettings, stop: asyncio.Event) -> None:
    await ensure_topics(settings)
    redis = Redis.from_url(settings.redis_url)
    store = Store(redis)
    limiter = TenantRateLimiter(redis, settings.api_rate_per_s, settings.api_burst)
    auth = RateLimitedAuthenticator(redis, settings.admin_api_key, limiter=limiter)
    producer = Producer(settings)
    await producer.start()
    outcomes_consumer = Consumer(settings, CALL_EVENTS, group_id=f"{settings.topic_prefix}scheduler")
    await outcomes_consumer.start()
    admission = Admission(redis)
    control = CampaignControl(store, producer, admission)

    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.grpc_max_receive_bytes),
            ("grpc.max_send_message_length", settings.grpc_max_send_bytes),
        ]
    )
    recordings = await open_store(settings)
    tenants_pb2_grpc.add_TenantServiceServicer_to_server(
        TenantApi(store, auth, settings.max_recording_retention_days), server
    )
    campaigns_pb2_grpc.add_CampaignServiceServicer_to_server(
        CampaignApi(store, auth, control, settings, admission.audit, recordings), server
    )
    dnc_pb2_grpc.add_DncServiceServicer_to_server(DncApi(admission.dnc, auth, settings.default_region), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [
        tenants_pb2.DESCRIPTOR.services_by_name["TenantService"].full_name,
        campaigns_pb2.DESCRIPTOR.services_by_name["CampaignService"].full_name,
        dnc_pb2.DESCRIPTOR.services_by_name["DncService"].full_name,
    ]
    reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), server)
    server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
    await server.start()
    for name in names:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("scheduler serving", extra={"grpc": f"{settings.grpc_host}:{settings.grpc_port}"})

    dispatcher = Dispatcher(store, producer, control, admission, settings)
    outcomes = OutcomeConsumer(store, outcomes_consumer, settings, control)
    sweeping = keep_sweeping(
        recordings, store, settings.max_recording_retention_days, settings.recording_sweep_interval_s, stop
    )
    tasks = [
        asyncio.create_task(dispatcher.run(stop)),
        asyncio.create_task(outcomes.run(stop)),
        asyncio.create_task(sweeping),
    ]
    try:
        await stop.wait()
    finally:
        log.info("scheduler stopping")
        await server.stop(grace=3)
        await asyncio.gather(*tasks, return_exceptions=True)
        await outcomes_consumer.stop()
        await producer.stop()
        await recordings.close()
        await redis.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="obzvon-scheduler")
    parser.add_argument("command", choices=["serve"])
    parser.parse_args(argv)
    settings = SchedulerSettings()
    run_service(settings, lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
