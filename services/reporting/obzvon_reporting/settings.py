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
