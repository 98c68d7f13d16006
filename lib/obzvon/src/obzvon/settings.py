"""Settings shared by every service; each service subclasses :class:`CommonSettings`.

Configuration comes from environment variables prefixed ``OBZVON_`` (e.g. ``OBZVON_KAFKA_BOOTSTRAP``),
so the same image runs on a laptop, in CI and on Kubernetes.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OBZVON_", extra="ignore")

    service_name: str = "obzvon"
    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Prefix for every topic name; lets tests and parallel stacks share one broker without crosstalk.
    topic_prefix: str = ""
    log_level: str = "INFO"
    # Export spans to stderr as JSON (for the demo and debugging); production wires an OTLP exporter.
    trace_console: bool = False
    # Touched every few seconds by the event loop; a liveness probe that finds it stale knows the
    # loop is wedged even though the process is alive (deploy/k8s/base/probe.py). Empty: off.
    heartbeat_file: str = ""
    # Prometheus metrics of this process (GET /metrics), served by obzvon.telemetry.setup_metrics.
    # 0: off (unit tests, several processes on one host); Kubernetes sets 9464 and host 0.0.0.0.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
