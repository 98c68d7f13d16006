from __future__ import annotations

from obzvon.recordings import RecordingStoreSettings
from obzvon.settings import CommonSettings
from pydantic import Field


class SchedulerSettings(CommonSettings, RecordingStoreSettings):
    service_name: str = "scheduler"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    # The platform admin's key (manages tenants and the global DNC list); empty disables admin calls.
    admin_api_key: str = ""
    dispatch_interval_s: float = 0.2
    # A dial request not started by then is void (the dialer refuses it).
    dial_window_s: float = 30.0
    # A contact whose dispatch hit a passing error (Kafka or Redis) before any attempt was written goes
    # back to the queue this much later; after this many such errors in a row it is failed with the reason.
    dispatch_retry_delay_s: float = Field(default=5.0, gt=0)
    dispatch_max_errors: int = Field(default=5, ge=1)
    # An attempt with no final event by not_after + this is closed as "failed: dialer lost".
    max_call_s: float = 600.0
    default_max_concurrent_calls: int = 10
    # Ringing plus talking, for the rule that a call must end inside the calling window.
    expected_call_s: float = 180.0
    # Spam-risk monitor (spam.py): a campaign, or a tenant over all its campaigns, past either share pauses.
    spam_window: int = 50
    spam_min_answered: int = 20
    spam_short_hangup_s: float = 5.0
    spam_max_short_share: float = 0.3
    spam_max_opt_out_share: float = 0.1
    # After a spam-risk pause, StartCampaign is refused (even acknowledged) until this has passed.
    spam_pause_cooldown_s: float = 3600.0
    # Abandoned calls (abandonment.py): answered calls a campaign needs in its period before its share
    # of abandoned ones is judged against the profile's max_abandonment_rate.
    abandonment_min_answered: int = 20
    # Where numbers without a country code are parsed when the contact gives no region.
    default_region: str = "RU"
    # gRPC message sizes, set on purpose: one ImportContacts message (the CLI sends 500 rows) or a
    # campaign with a script at its size limit fits with room; anything bigger is RESOURCE_EXHAUSTED
    # before the scheduler reads it.
    grpc_max_receive_bytes: int = 4 * 1024 * 1024
    grpc_max_send_bytes: int = 4 * 1024 * 1024
    # Per upload and per campaign (the tenant's max_contacts_per_campaign overrides the default).
    max_contacts_per_upload: int = 1_000_000
    default_max_contacts_per_campaign: int = 1_000_000
    # Rows checked and stored per step of an import, so its memory does not grow with the upload.
    import_chunk_rows: int = 500
    # Each tenant's API calls: a token bucket shared by every scheduler replica (Redis). The default
    # is far above what an integrator or the test suites need and far below what stalls the API.
    api_rate_per_s: float = 50.0
    api_burst: int = 200
    # Recordings: the longest retention a tenant may allow (its max_recording_retention_days, when set,
    # is capped by this), and how often the sweep deletes the ones past their campaign's retention.
    max_recording_retention_days: int = Field(default=365, ge=1)
    recording_sweep_interval_s: float = Field(default=3600.0, gt=0)
