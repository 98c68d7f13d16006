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
    # here (reproduced 3 of 3; docs/reporting.md): at-least-once plus event-id deduplication instead.
    processing_guarantee: str = "at_least_once"
    # Event ids remembered per campaign to drop redelivered events (a replay spans one commit interval).
    dedup_window: int = 256
    web_host: str = "127.0.0.1"
