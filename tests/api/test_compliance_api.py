"""Compliance through the public API: consent at import, DNC lists, the audit trail per contact."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import grpc
import pytest
from obzvon.script import load_script_yaml
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, dnc_pb2, dnc_pb2_grpc
from obzvon_devstack.devstack import DevStack, numbers_awake_now

NewTenant = Callable[[], list[tuple[str, str]]]

SCRIPT = load_script_yaml("""
start: ask
nodes:
  ask: {ask: "Интересно?", expect: yes_no, on: {yes: bye, no: bye}}
  bye: {hangup: "До свидания"}
""")


def campaign(purpose: campaigns_pb2.Purpose.ValueType, **extra: object) -> campaigns_pb2.Campaign:
    return campaigns_pb2.Campaign(
        display_name="Offer",
        purpose=purpose,
        script=SCRIPT,
        caller_id="+74950000000",
        compliance_profile="default",
        language="ru",
        trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
        **extra,
    )  # type: ignore[arg-type]


def test_advertising_needs_consent_and_the_audit_says_why(
    scheduler: grpc.Channel, new_tenant: NewTenant, devstack: DevStack
) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(campaign_id="ads", campaign=campaign(campaigns_pb2.PURPOSE_ADVERTISING)),
        metadata=key,
    )
    with_consent, without = numbers_awake_now(2)
    agreed = campaigns_pb2.Contact(
        contact_id="agreed",
        phone_number=with_consent,
        consent=campaigns_pb2.Consent(channel="web-form", source="https://acme/f/1"),
    )
    agreed.consent.time.FromSeconds(1_700_000_000)
    response = stub.ImportContacts(
        iter(
            [
                campaigns_pb2.ImportContactsRequest(
                    campaign="campaigns/ads",
                    contacts=[agreed, campaigns_pb2.Contact(contact_id="stranger", phone_number=without)],
                )
            ]
        ),
        metadata=key,
    )
    assert response.imported == 1
    assert [(r.row, r.field) for r in response.rejected] == [(2, "contacts[2].consent")]
    assert response.rejected[0].reason.startswith("blocked: no consent")
    statuses = {
        c.contact_id: c.status
        for c in stub.ListContacts(campaigns_pb2.ListContactsRequest(campaign="campaigns/ads"), metadata=key).contacts
    }
    assert statuses == {"agreed": "queued", "stranger": "blocked: no consent"}

    trail = stub.ListAdmissionDecisions(
        campaigns_pb2.ListAdmissionDecisionsRequest(campaign="campaigns/ads", contact_id="stranger"), metadata=key
    ).decisions
    assert [(d.phase, d.decision, d.status) for d in trail] == [("screen", "blocked", "blocked: no consent")]


def test_dnc_lists_tenant_and_global(scheduler: grpc.Channel, new_tenant: NewTenant, devstack: DevStack) -> None:
    key = new_tenant()
    other = new_tenant()
    admin = [("x-api-key", devstack.admin_api_key)]
    dnc = dnc_pb2_grpc.DncServiceStub(scheduler)
    mine, everyone = numbers_awake_now(2)

    assert dnc.AddDncNumbers(dnc_pb2.AddDncNumbersRequest(phone_numbers=[mine]), metadata=key).added == 1
    assert dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=mine), metadata=key).list == "tenant"
    assert not dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=mine), metadata=other).listed

    with pytest.raises(grpc.RpcError) as raised:
        dnc.AddDncNumbers(dnc_pb2.AddDncNumbersRequest(phone_numbers=[everyone], **{"global": True}), metadata=key)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    dnc.AddDncNumbers(dnc_pb2.AddDncNumbersRequest(phone_numbers=[everyone], **{"global": True}), metadata=admin)
    for tenant in (key, other):
        assert (
            dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=everyone), metadata=tenant).list == "global"
        )

    with pytest.raises(grpc.RpcError) as raised:
        dnc.AddDncNumbers(dnc_pb2.AddDncNumbersRequest(phone_numbers=[mine, "12"]), metadata=key)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]

    # A number on the tenant's list is held back at import with the rule named.
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(campaign_id="info", campaign=campaign(campaigns_pb2.PURPOSE_INFORMATIONAL)),
        metadata=key,
    )
    response = stub.ImportContacts(
        iter(
            [
                campaigns_pb2.ImportContactsRequest(
                    campaign="campaigns/info", contacts=[campaigns_pb2.Contact(phone_number=mine)]
                )
            ]
        ),
        metadata=key,
    )
    assert response.imported == 0 and response.rejected[0].reason.startswith("blocked: DNC")

    assert dnc.RemoveDncNumbers(dnc_pb2.RemoveDncNumbersRequest(phone_numbers=[mine]), metadata=key).removed == 1
    assert not dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=mine), metadata=key).listed


def test_tenant_may_narrow_hours_but_not_name_a_bad_profile(
    scheduler: grpc.Channel, new_tenant: NewTenant, devstack: DevStack
) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    ok = stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id="narrow", campaign=campaign(campaigns_pb2.PURPOSE_INFORMATIONAL, calling_hours="10:00-19:00")
        ),
        metadata=key,
    )
    assert ok.campaign.calling_hours == "10:00-19:00"
    for field, extra in (
        ("campaign.calling_hours", {"calling_hours": "25:00-26:00"}),
        ("campaign.compliance_profile", {"compliance_profile": ""}),
    ):
        request = campaigns_pb2.CreateCampaignRequest(
            campaign_id=f"bad-{uuid.uuid4().hex[:6]}", campaign=campaign(campaigns_pb2.PURPOSE_INFORMATIONAL)
        )
        for name, value in extra.items():
            setattr(request.campaign, name, value)
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateCampaign(request, metadata=key)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert field in raised.value.details()  # type: ignore[attr-defined]


def test_a_callee_at_night_is_held_back_with_the_window_named(
    scheduler: grpc.Channel, new_tenant: NewTenant, devstack: DevStack
) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id="night", campaign=campaign(campaigns_pb2.PURPOSE_INFORMATIONAL)
        ),
        metadata=key,
    )
    (sleeper,) = numbers_awake_now(1, hours=(0, 7))  # local night: outside 09:00-21:00
    stub.ImportContacts(
        iter(
            [
                campaigns_pb2.ImportContactsRequest(
                    campaign="campaigns/night",
                    contacts=[campaigns_pb2.Contact(contact_id="sleeper", phone_number=sleeper)],
                )
            ]
        ),
        metadata=key,
    )
    stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name="campaigns/night"), metadata=key)
    # The scheduler's admission runs on its own schedule; on a loaded 2-core CI box it once took
    # more than 30 s to reach this contact. A deadline, not a timing claim.
    deadline = time.monotonic() + 90
    status = ""
    while time.monotonic() < deadline and status != "blocked: outside window":
        (contact,) = stub.ListContacts(
            campaigns_pb2.ListContactsRequest(campaign="campaigns/night"), metadata=key
        ).contacts
        status = contact.status
        time.sleep(0.3)
    assert status == "blocked: outside window"
    assert contact.attempts == 0
    trail = stub.ListAdmissionDecisions(
        campaigns_pb2.ListAdmissionDecisionsRequest(campaign="campaigns/night", contact_id="sleeper"), metadata=key
    ).decisions
    assert trail[-1].phase == "admit" and trail[-1].rule == "outside window"
    # Held back until its window opens, not given up: the campaign keeps running.
    state = stub.GetCampaign(campaigns_pb2.GetCampaignRequest(name="campaigns/night"), metadata=key).campaign.state
    assert state == campaigns_pb2.CAMPAIGN_STATE_RUNNING
