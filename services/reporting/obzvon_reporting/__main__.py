"""`obzvon-reporting serve`: the faust worker with the gRPC reporting API beside it."""

from __future__ import annotations

import argparse
import asyncio
import sys

import faust
import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from obzvon.auth import Authenticator
from obzvon.bus import ensure_topics
from obzvon.log import setup_logging
from obzvon.telemetry import setup_metrics, setup_tracing
from obzvon.v1 import reports_pb2, reports_pb2_grpc
from redis.asyncio import Redis

from obzvon_reporting import dashboard
from obzvon_reporting.api import ReportingApi
from obzvon_reporting.app import create_app
from obzvon_reporting.settings import ReportingSettings


def build(settings: ReportingSettings) -> faust.App:
    app = create_app(settings)
    server_box: list[grpc.aio.Server] = []
    dashboard_box: list[web.AppRunner] = []

    @app.task  # type: ignore[untyped-decorator]
    async def start_grpc() -> None:
        server = grpc.aio.server()
        redis = Redis.from_url(settings.redis_url)
        reports_pb2_grpc.add_ReportingServiceServicer_to_server(
            ReportingApi(redis, Authenticator(redis, settings.admin_api_key), settings.watch_interval_s), server
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        name = reports_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name
        reflection.enable_server_reflection((name, reflection.SERVICE_NAME), server)
        server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
        await server.start()
        server_box.append(server)
        dashboard_box.append(
            await dashboard.serve(redis, settings.admin_api_key, settings.dashboard_host, settings.dashboard_port)
        )
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_grpc(app: faust.App, **kwargs: object) -> None:
        for server in server_box:
            await server.stop(grace=2)
        for runner in dashboard_box:
            await runner.cleanup()

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="obzvon-reporting")
    parser.add_argument("command", choices=["serve"])
    parser.parse_args(argv)
    settings = ReportingSettings()
    setup_logging(settings.service_name, settings.log_level)
    setup_tracing(settings.service_name, settings.trace_console)
    setup_metrics(settings)
    # Topics exist before faust subscribes, so the first events are not missed.
    asyncio.run(ensure_topics(settings))
    app = build(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    sys.argv = sys.argv[:1]
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
