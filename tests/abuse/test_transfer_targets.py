"""A hostile tenant cannot point a transfer node at another host, a phone number or an emergency number
(issue #12, "Transfer to an operator"). Public API only: each is refused at CreateCampaign with a
FieldViolation naming the operator field."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from obzvon.errors import field_violations
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, scripts_pb2

Metadata = list[tuple[str, str]]
NewTenant = Callable[[], Metadata]
T = campaigns_pb2


def _script(operator: str, *, next_node: str = "", ring: int = 0) -> scripts_pb2.Script:
    script = scripts_pb2.Script(start="connect")
    script.nodes["connect"].transfer.CopyFrom(
        scripts_pb2.TransferNode(text="Connecting you", operator=operator, no_answer="sorry", ring_timeout_seconds=ring)
    )
    script.nodes["connect"].next = next_node
    script.nodes["sorry"].hangup.text = "We will call you back"
    return script


def _campaign(script: scripts_pb2.Script) -> campaigns_pb2.Campaign:
    return T.Campaign(
        display_name="Reminders",
        purpose=T.PURPOSE_INFORMATIONAL,
        script=script,
        caller_id="+74950000000",
        compliance_profile="default",
        language="en",
        trunk=T.Trunk(host="127.0.0.1", port=5070),
    )


def _refused(stub: campaigns_pb2_grpc.CampaignServiceStub, key: Metadata, script: scripts_pb2.Script) -> set[str]:
    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateCampaign(T.CreateCampaignRequest(campaign_id="hostile", campaign=_campaign(script)), metadata=key)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value  # type: ignore[attr-defined]
    return {v.field for v in field_violations(raised.value)}


OPERATOR = 'campaign.script.nodes["connect"].transfer.operator'
# Another host, URI syntax, header injection, a phone number, emergency and service numbers.
HOSTILE_OPERATORS = [
    "sip:op@10.9.9.9",
    "op@10.9.9.9",
    "op;maddr=10.9.9.9",
    "op?Route=<sip:10.9.9.9>",
    "op:5060",
    "op\r\nRoute: <sip:10.9.9.9>",
    "+79991234567",
    "79991234567",
    "112",
    "911",
    "03",
    "103",
    "op" + "x" * 40,
    "",
]


def test_hostile_transfer_targets_are_invalid_argument(scheduler: grpc.Channel, new_tenant: NewTenant) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    for operator in HOSTILE_OPERATORS:
        assert _refused(stub, key, _script(operator)) == {OPERATOR}, operator
    ring = 'campaign.script.nodes["connect"].transfer.ring_timeout_seconds'
    assert _refused(stub, key, _script("reception", ring=3600)) == {ring}
    # A transfer node branches on no_answer; a `next` would be a second, silent way out.
    assert _refused(stub, key, _script("reception", next_node="sorry")) == {'campaign.script.nodes["connect"].next'}
    assert not stub.ListCampaigns(T.ListCampaignsRequest(), metadata=key).campaigns
    # Extensions a PBX uses are accepted.
    for operator in ("reception", "op.desk-2", "1001"):
        created = stub.CreateCampaign(
            T.CreateCampaignRequest(
                campaign_id=f"ok-{operator.replace('.', '-')}", campaign=_campaign(_script(operator))
            ),
            metadata=key,
        )
        assert created.campaign.script.nodes["connect"].transfer.operator == operator
