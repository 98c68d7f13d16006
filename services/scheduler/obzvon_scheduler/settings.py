from __future__ import annotations

from obzvon.settings import CommonSettings


class SchedulerSettings(CommonSettings):
    service_name: str = "scheduler"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    # The platform admin's key (manages tenants and the global DNC list); empty disables admin calls.
    admin_api_key: str = ""
    dispatch_interval_s: float = 0.2
    # A dial request not started by then is void (the dialer refuses it).
    dial_window_s: float = 30.0
    # An attempt with no final event by not_after + this is closed as "failed: dialer lost".
    max_call_s: float = 600.0
    default_max_concurrent_calls: int = 10
    # Ringing plus talking, for the rule that a call must end inside the calling window.
    expected_call_s: float = 180.0
    # Spam-risk monitor (spam.py): a campaign past either share pauses itself.
    spam_window: int = 50
    spam_min_answered: int = 20
    spam_short_hangup_s: float = 5.0
    spam_max_short_share: float = 0.3
    spam_max_opt_out_share: float = 0.1
    # Where numbers without a country code are parsed when the contact gives no region.
    default_region: str = "RU"
