"""Bad input at the public API gets INVALID_ARGUMENT naming the field; tenants cannot see each other."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from obzvon.errors import field_violations
from obzvon.script import load_script_yaml
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc

NewTenant = Callable[[], list[tuple[str, str]]]

SCRIPT = """
start: greet
nodes:
  greet: {say: "Здравствуйте, {name}!", next: confirm}
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: bye, no: bye}}
  bye: {hangup: "До свидания"}
"""


def _campaign(**overrides: object) -> campaigns_pb2.Campaign:
    fields: dict[str, object] = dict(
        display_name="Reminders",
        purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
        script=load_script_yaml(SCRIPT),
        caller_id="+74950000000",
        compliance_profile="default",
        language="ru",
        trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
    )
    fields.update(overrides)
    return campaigns_pb2.Campaign(**fields)  # type: ignore[arg-type]


def _violations(call: object) -> dict[str, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()  # type: ignore[operator]
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    return {v.field: v.description for v in field_violations(error)}


def test_empty_campaign_name_is_invalid(scheduler: grpc.Channel, new_tenant: NewTenant) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    found = _violations(
        lambda: stub.CreateCampaign(
            campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=_campaign(display_name="")), metadata=key
        )
    )
    assert list(found) == ["campaign.display_name"]


def test_unknown_script_node_is_invalid(scheduler: grpc.Channel, new_tenant: NewTenant) -> None:
    key = new_tenant()
    script = load_script_yaml(SCRIPT.replace("{yes: bye, no: bye}", "{yes: bye, no: byee}"))
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    found = _violations(
        lambda: stub.CreateCampaign(
            campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=_campaign(script=script)), metadata=key
        )
    )
    assert found == {'campaign.script.nodes["confirm"].ask.on["no"]': 'unknown node "byee"'}


def test_malformed_phone_number_is_invalid_and_nothing_is_imported(
    scheduler: grpc.Channel, new_tenant: NewTenant
) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    stub.CreateCampaign(campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=_campaign()), metadata=key)
    contacts = [
        campaigns_pb2.Contact(phone_number="+74951234567", variables={"name": "Анна"}),
        campaigns_pb2.Contact(phone_number="8-800-NOT-A-NUMBER-12345", variables={"name": "Борис"}),
        campaigns_pb2.Contact(phone_number="+74951234568"),
    ]
    found = _violations(
        lambda: stub.ImportContacts(
            iter([campaigns_pb2.ImportContactsRequest(campaign="campaigns/c1", contacts=contacts)]), metadata=key
        )
    )
    assert set(found) == {"contacts[2].phone_number", "contacts[3].variables.name"}
    listed = stub.ListContacts(campaigns_pb2.ListContactsRequest(campaign="campaigns/c1"), metadata=key)
    assert list(listed.contacts) == []


def test_other_tenants_campaign_is_not_found(scheduler: grpc.Channel, new_tenant: NewTenant) -> None:
    first, second = new_tenant(), new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    stub.CreateCampaign(campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=_campaign()), metadata=first)
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetCampaign(campaigns_pb2.GetCampaignRequest(name="campaigns/c1"), metadata=second)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetCampaign(campaigns_pb2.GetCampaignRequest(name="campaigns/c1"), metadata=[("x-api-key", "nope")])
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]


def test_create_is_idempotent_on_request_id(scheduler: grpc.Channel, new_tenant: NewTenant) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    request = campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=_campaign(), request_id="r-1")
    first = stub.CreateCampaign(request, metadata=key)
    again = stub.CreateCampaign(request, metadata=key)
    assert first == again
