"""A careless or hostile tenant's fields are bounded at the API, and one bad row never takes others down."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from obzvon.errors import field_violations
from obzvon.script import load_script_yaml
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, scripts_pb2, tenants_pb2, tenants_pb2_grpc
from obzvon_devstack.devstack import DevStack, numbers_awake_now

Metadata = list[tuple[str, str]]
NewTenant = Callable[[], Metadata]
SCRIPT = 'start: hi\nnodes:\n  hi: {say: "Здравствуйте, {name}!", next: bye}\n  bye: {hangup: "До свидания"}\n'


def campaign(**fields: Any) -> campaigns_pb2.Campaign:
    base: dict[str, Any] = {
        "display_name": "Bounds",
        "purpose": campaigns_pb2.PURPOSE_INFORMATIONAL,
        "caller_id": "+74950000000",
        "compliance_profile": "default",
        "language": "ru",
        "trunk": campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
        "script": load_script_yaml(SCRIPT),
    }
    base.update(fields)
    return campaigns_pb2.Campaign(**base)


def refused(call: Callable[[], object]) -> tuple[grpc.StatusCode, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code(), {v.field: v.description for v in field_violations(raised.value)}  # type: ignore[attr-defined]


def upload(campaign_name: str, contacts: list[campaigns_pb2.Contact]) -> Iterator[campaigns_pb2.ImportContactsRequest]:
    for i in range(0, len(contacts), 500):
        yield campaigns_pb2.ImportContactsRequest(campaign=campaign_name, contacts=contacts[i : i + 500])


@pytest.fixture
def stub(scheduler: grpc.Channel) -> campaigns_pb2_grpc.CampaignServiceStub:
    return campaigns_pb2_grpc.CampaignServiceStub(scheduler)


def test_fifty_bad_rows_are_invalid_argument_with_the_first_named(
    stub: campaigns_pb2_grpc.CampaignServiceStub, new_tenant: NewTenant
) -> None:
    key = new_tenant()
    stub.CreateCampaign(campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign()), metadata=key)
    bad = [
        campaigns_pb2.Contact(phone_number="8-800-NOT-A-NUMBER-12345", variables={"name": "Анна"}) for _ in range(50)
    ]
    code, found = refused(lambda: stub.ImportContacts(upload("campaigns/c1", bad), metadata=key))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "contacts[1].phone_number" in found and found["(more)"].startswith("40 more")
    # 50,000 bad rows: the same answer, not RESOURCE_EXHAUSTED on the trailer.
    many = [campaigns_pb2.Contact(phone_number="+7", variables={"name": "x"}) for _ in range(50_000)]
    code, found = refused(lambda: stub.ImportContacts(upload("campaigns/c1", many), metadata=key))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and found["(more)"].startswith("49990 more")


def test_status_and_attempts_sent_by_the_client_are_ignored(
    stub: campaigns_pb2_grpc.CampaignServiceStub, new_tenant: NewTenant
) -> None:
    key = new_tenant()
    stub.CreateCampaign(campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign()), metadata=key)
    forged = campaigns_pb2.Contact(
        contact_id="k1", phone_number="+74951234567", variables={"name": "Анна"}, attempts=2**31 - 1, status="completed"
    )
    stub.ImportContacts(upload("campaigns/c1", [forged]), metadata=key)
    (stored,) = stub.ListContacts(campaigns_pb2.ListContactsRequest(campaign="campaigns/c1"), metadata=key).contacts
    assert (stored.attempts, stored.status) == (0, "queued")


def test_variables_are_bounded_to_fit_a_kafka_message(
    stub: campaigns_pb2_grpc.CampaignServiceStub, new_tenant: NewTenant
) -> None:
    key = new_tenant()
    stub.CreateCampaign(campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign()), metadata=key)
    contacts = [
        campaigns_pb2.Contact(phone_number="+74951234567", variables={"name": "Анна", "note": "x" * 1_500_000}),
        campaigns_pb2.Contact(
            phone_number="+74951234568", variables={f"v{i}": "x" for i in range(200)} | {"name": "Б"}
        ),
        campaigns_pb2.Contact(phone_number="+74951234569", variables={"name": "В", "k" * 1000: "x"}),
        campaigns_pb2.Contact(phone_number="+74951234560", variables={"name": "Г"}, debtor_key="d" * 10_000),
    ]
    code, found = refused(lambda: stub.ImportContacts(upload("campaigns/c1", contacts), metadata=key))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(found) == {
        "contacts[1].variables.note",
        "contacts[2].variables",
        "contacts[3].variables",
        "contacts[4].debtor_key",
    }
    listed = stub.ListContacts(campaigns_pb2.ListContactsRequest(campaign="campaigns/c1"), metadata=key)
    assert list(listed.contacts) == []


def test_names_voices_and_script_fields_are_bounded_at_creation(
    scheduler: grpc.Channel, stub: campaigns_pb2_grpc.CampaignServiceStub, new_tenant: NewTenant, devstack: DevStack
) -> None:
    code, found = refused(
        lambda: tenants_pb2_grpc.TenantServiceStub(scheduler).CreateTenant(
            tenants_pb2.CreateTenantRequest(
                tenant_id=f"t-{uuid.uuid4().hex[:8]}",
                tenant=tenants_pb2.Tenant(display_name="А" * 10_000, caller_ids=["+74950000000"]),
            ),
            metadata=[("x-api-key", devstack.admin_api_key)],
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and set(found) == {"tenant.display_name"}
    key = new_tenant()
    retries = load_script_yaml(
        "start: q\nnodes:\n  q: {ask: 'Да?', expect: yes_no, on: {yes: bye, no: bye}, retries: 1000}\n"
        "  bye: {hangup: 'Пока'}\n"
    )
    long_say = scripts_pb2.Script()
    long_say.CopyFrom(load_script_yaml(SCRIPT))
    long_say.nodes["hi"].say.text = "Здравствуйте! " * 1000
    for fields, expected in (
        ({"display_name": "x" * 10_000}, "campaign.display_name"),
        ({"voice": "espeak-ng:xx"}, "campaign.voice"),  # unknown: answered calls with silence
        ({"voice": "piper:en"}, "campaign.voice"),  # an English voice for a Russian campaign
        ({"script": retries}, 'campaign.script.nodes["q"].ask.retries'),
        ({"script": long_say}, 'campaign.script.nodes["hi"].say.text'),
    ):
        code, found = refused(
            lambda fields=fields: stub.CreateCampaign(  # type: ignore[misc]
                campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign(**fields)), metadata=key
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and set(found) == {expected}, (fields.keys(), found)
    ok = stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign(voice="espeak-ng:ru")), metadata=key
    )
    assert ok.campaign.voice == "espeak-ng:ru"


def test_one_bad_contact_does_not_lose_its_batch(
    stub: campaigns_pb2_grpc.CampaignServiceStub, new_tenant: NewTenant
) -> None:
    # No dialer runs: a dispatched contact stays "dialing" (then "dialer lost"); one never dispatched
    # stays "queued" while the campaign reports COMPLETED.
    key = new_tenant()
    stub.CreateCampaign(campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign()), metadata=key)
    bad_number, good_number = numbers_awake_now(2)
    contacts = [
        # Sorted first in the batch; its attempt count would overflow the dial request's int32.
        campaigns_pb2.Contact(contact_id="a-bad", phone_number=bad_number, variables={"name": "А"}, attempts=2**31 - 1),
        campaigns_pb2.Contact(contact_id="b-good", phone_number=good_number, variables={"name": "Б"}),
    ]
    stub.ImportContacts(upload("campaigns/c1", contacts), metadata=key)
    stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name="campaigns/c1"), metadata=key)
    deadline = time.monotonic() + 20
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        listed = stub.ListContacts(campaigns_pb2.ListContactsRequest(campaign="campaigns/c1"), metadata=key).contacts
        statuses = {c.contact_id: c.status for c in listed}
        if "queued" not in statuses.values():
            break
        time.sleep(0.2)
    assert "queued" not in statuses.values(), statuses
