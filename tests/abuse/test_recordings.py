"""Call recordings through the public API (issue 12): off by default, retention bounded by the tenant's
maximum, readable only by their tenant (another tenant's is NOT_FOUND), deleted with the contact's data.
The scheduler serves them from a real S3 server (S3Proxy, deploy/local/stack.sh)."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from collections.abc import Iterator

import grpc
import pytest
from obzvon.bus import Consumer
from obzvon.errors import field_violations
from obzvon.recordings import RecordingKey, RecordingStoreSettings, open_store
from obzvon.script import disclosure_text, load_script_yaml
from obzvon.settings import CommonSettings
from obzvon.topics import DIAL_REQUESTS, TTS_REQUESTS
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, tenants_pb2, tenants_pb2_grpc
from obzvon_devstack.devstack import DevStack, numbers_awake_now, wait_healthy

Metadata = list[tuple[str, str]]
T = campaigns_pb2
SCRIPT = load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "Goodbye"}\n')
WAV = b"RIFF....WAVEfmt a recording's bytes"


@pytest.fixture
def scheduler(devstack: DevStack, s3_recordings: RecordingStoreSettings) -> Iterator[grpc.Channel]:
    devstack.extra_env.update(
        {
            "OBZVON_RECORDINGS_S3_ENDPOINT": s3_recordings.recordings_s3_endpoint,
            "OBZVON_RECORDINGS_S3_BUCKET": s3_recordings.recordings_s3_bucket,
            "OBZVON_RECORDINGS_S3_ACCESS_KEY": s3_recordings.recordings_s3_access_key,
            "OBZVON_RECORDINGS_S3_SECRET_KEY": s3_recordings.recordings_s3_secret_key.get_secret_value(),
            "OBZVON_MAX_RECORDING_RETENTION_DAYS": "90",
        }
    )
    devstack.start("scheduler")
    wait_healthy(devstack.scheduler_addr, 60)
    with grpc.insecure_channel(devstack.scheduler_addr) as channel:
        yield channel


def tenant(channel: grpc.Channel, devstack: DevStack, **fields: object) -> tuple[str, Metadata]:
    tenant_id = f"t-{uuid.uuid4().hex[:8]}"
    response = tenants_pb2_grpc.TenantServiceStub(channel).CreateTenant(
        tenants_pb2.CreateTenantRequest(
            tenant_id=tenant_id,
            tenant=tenants_pb2.Tenant(display_name="Acme", caller_ids=["+74950000000"], **fields),  # type: ignore[arg-type]
        ),
        metadata=[("x-api-key", devstack.admin_api_key)],
    )
    return tenant_id, [("x-api-key", response.api_key)]


def campaign(**fields: object) -> campaigns_pb2.Campaign:
    return T.Campaign(
        display_name="Reminders",
        purpose=T.PURPOSE_INFORMATIONAL,
        script=SCRIPT,
        caller_id="+74950000000",
        compliance_profile="default",
        language="en",
        trunk=T.Trunk(host="127.0.0.1", port=5070),
        **fields,  # type: ignore[arg-type]
    )


def put_recording(settings: RecordingStoreSettings, key: str) -> None:
    """What the dialer does at the end of a recorded call (tests/media/test_recording.py)."""

    async def put() -> None:
        store = await open_store(settings)
        try:
            await store.put(key, WAV)
        finally:
            await store.close()

    asyncio.run(put())


def test_recording_is_off_by_default_and_retention_is_bounded(scheduler: grpc.Channel, devstack: DevStack) -> None:
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    _, key = tenant(scheduler, devstack, max_recording_retention_days=30)
    plain = stub.CreateCampaign(T.CreateCampaignRequest(campaign_id="plain", campaign=campaign()), metadata=key)
    assert not plain.campaign.recording.enabled
    with pytest.raises(grpc.RpcError) as refused:
        stub.CreateCampaign(
            T.CreateCampaignRequest(
                campaign_id="long", campaign=campaign(recording=T.Recording(enabled=True, retention_days=31))
            ),
            metadata=key,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "campaign.recording.retention_days" in {v.field for v in field_violations(refused.value)}
    recorded = stub.CreateCampaign(
        T.CreateCampaignRequest(campaign_id="rec", campaign=campaign(recording=T.Recording(enabled=True))),
        metadata=key,
    )
    assert recorded.campaign.recording.enabled
    with pytest.raises(grpc.RpcError) as over_platform:  # the platform's maximum is 90 days here
        tenant(scheduler, devstack, max_recording_retention_days=91)
    assert over_platform.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_recording_is_readable_only_by_its_tenant_and_deleted_with_the_contact(
    scheduler: grpc.Channel, devstack: DevStack, s3_recordings: RecordingStoreSettings
) -> None:
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    owner_id, owner = tenant(scheduler, devstack)
    _, other = tenant(scheduler, devstack)
    on = campaign(recording=T.Recording(enabled=True, retention_days=7))
    for key in (owner, other):  # the same campaign id in both tenants
        stub.CreateCampaign(T.CreateCampaignRequest(campaign_id="calls", campaign=on), metadata=key)
        stub.ImportContacts(
            iter(
                [
                    T.ImportContactsRequest(
                        campaign="campaigns/calls", contacts=[T.Contact(contact_id="k1", phone_number="+74951234567")]
                    )
                ]
            ),
            metadata=key,
        )
    put_recording(s3_recordings, RecordingKey(owner_id, "calls", "k1", "att-1").key)
    ask = T.GetRecordingRequest(campaign="campaigns/calls", contact_id="k1", attempt_id="att-1")

    got = stub.GetRecording(ask, metadata=owner)
    assert got.url and got.expire_time.seconds > 0
    with urllib.request.urlopen(got.url, timeout=10) as response:  # the signed URL, no credentials
        assert response.read() == WAV

    for hostile in (
        ask,
        T.GetRecordingRequest(campaign="campaigns/calls", contact_id="k1", attempt_id="../../../" + owner_id),
        T.GetRecordingRequest(campaign="campaigns/calls", contact_id="..", attempt_id="att-1"),
    ):
        with pytest.raises(grpc.RpcError) as denied:
            stub.GetRecording(hostile, metadata=other)
        assert denied.value.code() == grpc.StatusCode.NOT_FOUND

    # The other tenant deleting its own contact k1 leaves the owner's recording alone.
    assert (
        stub.DeleteContactData(
            T.DeleteContactDataRequest(campaign="campaigns/calls", contact_id="k1"), metadata=other
        ).recordings_deleted
        == 0
    )
    assert stub.GetRecording(ask, metadata=owner).url
    deleted = stub.DeleteContactData(
        T.DeleteContactDataRequest(campaign="campaigns/calls", contact_id="k1"), metadata=owner
    )
    assert deleted.recordings_deleted == 1
    with pytest.raises(grpc.RpcError) as gone:
        stub.GetRecording(ask, metadata=owner)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


def test_recorded_campaign_tells_the_dialer_and_the_callee(scheduler: grpc.Channel, devstack: DevStack) -> None:
    """The dial request asks the dialer to record, and the disclosure rendered at start says the call is recorded."""
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    _, key = tenant(scheduler, devstack)
    on = campaign(recording=T.Recording(enabled=True))
    stub.CreateCampaign(T.CreateCampaignRequest(campaign_id="rec", campaign=on), metadata=key)
    (number,) = numbers_awake_now(1)
    contact = T.Contact(contact_id="k1", phone_number=number)
    stub.ImportContacts(iter([T.ImportContactsRequest(campaign="campaigns/rec", contacts=[contact])]), metadata=key)
    stub.StartCampaign(T.StartCampaignRequest(name="campaigns/rec"), metadata=key)
    settings = CommonSettings(topic_prefix=devstack.topic_prefix)

    async def first_dial_request_and_tts_texts() -> tuple[object, set[str]]:
        async with (
            Consumer(settings, DIAL_REQUESTS, group_id=f"{settings.topic_prefix}test-dial") as dials,
            Consumer(settings, TTS_REQUESTS, group_id=f"{settings.topic_prefix}test-tts") as tts,
        ):
            texts: set[str] = set()
            for _ in range(60):
                texts |= {env.value.text for env in await tts.getmany(timeout_s=0.25)}
                got = await dials.getmany(timeout_s=0.25)
                if got:
                    texts |= {env.value.text for env in await tts.getmany(timeout_s=1.0)}
                    return got[0].value, texts
            raise AssertionError("no dial request within 30 s")

    request, texts = asyncio.run(first_dial_request_and_tts_texts())
    assert request.record  # type: ignore[attr-defined]
    assert disclosure_text("en", "Acme", callback_number="", recorded=True) in texts
