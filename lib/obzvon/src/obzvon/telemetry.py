"""Telemetry of every service: OpenTelemetry tracing (W3C trace context travels in Kafka headers and
gRPC metadata) and Prometheus metrics.

Metrics are prometheus_client instruments, declared in each service's ``metrics.py`` (shared code:
beside what counts them, ``obzvon.bus``, ``obzvon.compliance.decision``), counted by one line where
the thing happens, and served per process by :func:`setup_metrics`; docs/metrics.md lists them.
prometheus_client rather than OTel metrics: a declared metric is on the endpoint from the start (a
dashboard, an alert or a KEDA query finds it before the first event), and each name is exactly the
one queried.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from prometheus_client import disable_created_metrics, start_http_server

from obzvon.settings import CommonSettings

_configured = False
_metrics_served = False


def setup_tracing(service: str, console: bool = False) -> None:
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if console:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True


def setup_metrics(settings: CommonSettings) -> None:
    """Serves this process's metrics at http://OBZVON_METRICS_HOST:OBZVON_METRICS_PORT/metrics; port 0: off.

    A thread of its own: the endpoint still answers when the event loop is busy, and scrapes never
    wait on the loop.
    """
    global _metrics_served
    if settings.metrics_port and not _metrics_served:
        # The *_created series would double the endpoint for no query of ours (untyped in prometheus_client).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
        _metrics_served = True


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def context_to_headers(ctx: otel_context.Context | None = None) -> list[tuple[str, bytes]]:
    carrier: dict[str, str] = {}
    inject(carrier, context=ctx)
    return [(k, v.encode()) for k, v in carrier.items()]


def context_from_headers(headers: Sequence[tuple[str, bytes]] | None) -> otel_context.Context:
    carrier = {k: v.decode(errors="replace") for k, v in headers or ()}
    return extract(carrier)


def current_trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""
