from __future__ import annotations

from obzvon.settings import CommonSettings


class ReportingSettings(CommonSettings):
    service_name: str = "reporting"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50052
    # faust's own web server (metrics, table views); loopback only
    web_port: int = 6067
    data_dir: str = ".local/reporting"
    admin_api_key: str = ""
    # faust-streaming 0.15.3 with exactly_once never consumed partition 0 of the repartition topic
    # here (reproduced 3 of 3; docs/reporting.md): at-least-once plus per-attempt sequence deduplication instead.
    processing_guarantee: str = "at_least_once"
    # Call records (Redis) expire this long after their attempt's last event.
    call_record_ttl_s: int = 90 * 24 * 3600
    # How long an attempt's dedup mark is kept after its last event: longer than call.events' retention
    # (and faust's re-keyed topic's), since no redelivery can come later (memory.py).
    attempt_memory_s: float = 8 * 24 * 3600
    # How soon Kafka gives a dead worker's partitions to the others (faust's defaults: 60 s and 3 s).
    broker_session_timeout_s: float = 60.0
    broker_heartbeat_interval_s: float = 3.0
    # How often WatchCampaignReport looks for a changed report.
    watch_interval_s: float = 0.5
    web_host: str = "127.0.0.1"
    # The web dashboard (dashboard.py); a tenant's API key is required for every figure it shows.
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 6068
