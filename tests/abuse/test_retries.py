"""No unlimited re-ringing: attempt and retry fields are bounded, and busy or no answer waits the
profile's minimum before the phone rings again, whatever delay the campaign asked for."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import grpc
import pytest
from obzvon.bus import Producer
from obzvon.compliance import load_profile
from obzvon.errors import field_violations
from obzvon.script import load_script_yaml
from obzvon.settings import CommonSettings
from obzvon.topics import CALL_EVENTS
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, events_pb2, tenants_pb2, tenants_pb2_grpc
from obzvon_devstack.devstack import DevStack, numbers_awake_now

Metadata = list[tuple[str, str]]


def campaign(**fields: Any) -> campaigns_pb2.Campaign:
    base: dict[str, Any] = {
        "display_name": "Retries",
        "purpose": campaigns_pb2.PURPOSE_INFORMATIONAL,
        "caller_id": "+74950000000",
        "compliance_profile": "default",
        "language": "ru",
        "trunk": campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
        "script": load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n'),
    }
    base.update(fields)
    return campaigns_pb2.Campaign(**base)


def create_tenant(channel: grpc.Channel, devstack: DevStack) -> tuple[str, Metadata]:
    tenant_id = f"t-{uuid.uuid4().hex[:8]}"
    response = tenants_pb2_grpc.TenantServiceStub(channel).CreateTenant(
        tenants_pb2.CreateTenantRequest(
            tenant_id=tenant_id, tenant=tenants_pb2.Tenant(display_name="Acme", caller_ids=["+74950000000"])
        ),
        metadata=[("x-api-key", devstack.admin_api_key)],
    )
    return tenant_id, [("x-api-key", response.api_key)]


def test_attempt_and_retry_fields_are_bounded_by_the_profile(scheduler: grpc.Channel, devstack: DevStack) -> None:
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    _, key = create_tenant(scheduler, devstack)
    most = load_profile("default").max_attempts
    for fields, expected in (
        ({"max_attempts": -1}, "campaign.max_attempts"),
        ({"max_attempts": most + 1}, "campaign.max_attempts"),
        ({"max_attempts": 2**31 - 1}, "campaign.max_attempts"),
        ({"retry_delay_seconds": -60}, "campaign.retry_delay_seconds"),
        ({"retry_delay_seconds": 2**31 - 1}, "campaign.retry_delay_seconds"),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateCampaign(
                campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign(**fields)), metadata=key
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert {v.field for v in field_violations(raised.value)} == {expected}, fields
    ok = stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign(max_attempts=most)), metadata=key
    )
    assert ok.campaign.max_attempts == most


def test_a_busy_callee_is_not_rung_again_before_the_profiles_minimum_delay(
    scheduler: grpc.Channel, devstack: DevStack
) -> None:
    # No dialer runs; the test reports the attempt's outcome on call.events as a dialer would.
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    tenant_id, key = create_tenant(scheduler, devstack)
    stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id="busy", campaign=campaign(max_attempts=3, retry_delay_seconds=1)
        ),
        metadata=key,
    )
    contact = campaigns_pb2.Contact(contact_id="k", phone_number=numbers_awake_now(1)[0])
    stub.ImportContacts(
        iter([campaigns_pb2.ImportContactsRequest(campaign="campaigns/busy", contacts=[contact])]), metadata=key
    )
    stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name="campaigns/busy"), metadata=key)

    def admitted() -> list[str]:
        trail = stub.ListAdmissionDecisions(
            campaigns_pb2.ListAdmissionDecisionsRequest(campaign="campaigns/busy", contact_id="k"), metadata=key
        ).decisions
        return [d.attempt_id for d in trail if d.phase == "admit" and d.decision == "admitted"]

    deadline = time.monotonic() + 10
    while not admitted() and time.monotonic() < deadline:
        time.sleep(0.1)
    (attempt_id,) = admitted()

    async def report_busy() -> None:
        async with Producer(CommonSettings(topic_prefix=devstack.topic_prefix)) as producer:
            event = events_pb2.CallEvent(
                event_id=f"{attempt_id}:busy",
                attempt_id=attempt_id,
                tenant_id=tenant_id,
                campaign_id="busy",
                contact_id="k",
                type=events_pb2.CALL_EVENT_TYPE_FAILED,
                sip_code=486,
                reason="busy",
                outcome=events_pb2.OutcomeDetail(outcome=events_pb2.CALL_OUTCOME_BUSY),
            )
            event.time.GetCurrentTime()
            await producer.send(CALL_EVENTS, attempt_id, event)

    asyncio.run(report_busy())

    def status() -> str:
        (listed,) = stub.ListContacts(
            campaigns_pb2.ListContactsRequest(campaign="campaigns/busy"), metadata=key
        ).contacts
        return listed.status

    while status() != "retry: busy" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status() == "retry: busy"
    # The campaign asked for 1 s; the default profile's minimum is far longer.
    time.sleep(4)
    assert admitted() == [attempt_id]
    assert status() == "retry: busy"
