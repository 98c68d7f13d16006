"""A hostile tenant cannot make the dialer ring another number or another host, and every callee
learns how to call back where the profile requires it (issue #10, items 2 and 7). Public API only,
plus the internal topics the scheduler writes (what reaches the dialer and tts)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest
from obzvon.bus import Consumer
from obzvon.errors import field_violations
from obzvon.script import disclosure_text, load_script_yaml
from obzvon.settings import CommonSettings
from obzvon.topics import DIAL_REQUESTS, TTS_REQUESTS
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc
from obzvon_devstack.devstack import DevStack, numbers_awake_now

Metadata = list[tuple[str, str]]
NewTenant = Callable[[], Metadata]
T = campaigns_pb2

SCRIPT = load_script_yaml("""
start: greet
nodes:
  greet: {say: "Hello, {name}!", next: confirm}
  confirm: {ask: "Will you come?", expect: yes_no, on: {yes: bye, no: bye}}
  bye: {hangup: "Goodbye"}
""")
CALLBACK = "+12025550143"


def _campaign(**overrides: object) -> campaigns_pb2.Campaign:
    fields: dict[str, object] = dict(
        display_name="Reminders",
        purpose=T.PURPOSE_INFORMATIONAL,
        script=SCRIPT,
        caller_id="+74950000000",
        compliance_profile="default",
        language="en",
        trunk=T.Trunk(host="127.0.0.1", port=5070),
    )
    fields.update(overrides)
    return T.Campaign(**fields)  # type: ignore[arg-type]


def _refused(stub: campaigns_pb2_grpc.CampaignServiceStub, key: Metadata, campaign: campaigns_pb2.Campaign) -> set[str]:
    """The fields a refused CreateCampaign names; fails the test if the campaign was accepted."""
    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateCampaign(T.CreateCampaignRequest(campaign_id="hostile", campaign=campaign), metadata=key)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value  # type: ignore[attr-defined]
    return {v.field for v in field_violations(raised.value)}


# Each was seen or is the next thing to try once a template is gone: a fixed number before the
# host, URI parameters or headers, another host before an '@', a port or scheme in the host.
HOSTILE_HOSTS = [
    "127.0.0.1;x=",
    "127.0.0.1:5070",
    "10.9.9.9;x=@127.0.0.1",
    "74950000001@127.0.0.1",
    "127.0.0.1?Route=<sip:10.9.9.9>",
    "sip:127.0.0.1",
    "127.0.0.1 ",
    "127.0.0.1\r\nRoute: <sip:10.9.9.9>",
    "[::1]",
    "::1%eth0;x=1",
    "a" * 254,
    "",
]


def test_hostile_trunks_are_invalid_argument(scheduler: grpc.Channel, new_tenant: NewTenant) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    for host in HOSTILE_HOSTS:
        assert _refused(stub, key, _campaign(trunk=T.Trunk(host=host, port=5070))) == {"campaign.trunk.host"}, host
    for port in (0, -5060, 65536):
        assert _refused(stub, key, _campaign(trunk=T.Trunk(host="127.0.0.1", port=port))) == {"campaign.trunk.port"}
    assert _refused(stub, key, _campaign(trunk=None)) == {"campaign.trunk.host", "campaign.trunk.port"}
    tcp = T.Trunk(host="127.0.0.1", port=5070, transport=T.TRUNK_TRANSPORT_TCP)
    assert _refused(stub, key, _campaign(trunk=tcp)) == {"campaign.trunk.transport"}
    unknown_format = T.Trunk(host="127.0.0.1", port=5070)
    unknown_format.number_format = 99  # type: ignore[assignment]
    assert _refused(stub, key, _campaign(trunk=unknown_format)) == {"campaign.trunk.number_format"}
    with_header = T.Trunk(host="127.0.0.1", port=5070, username='bot"\r\nRoute: x', password="p")
    assert _refused(stub, key, _campaign(trunk=with_header)) == {"campaign.trunk.username"}
    # Nothing was created by any of them.
    assert not stub.ListCampaigns(T.ListCampaignsRequest(), metadata=key).campaigns


def test_trunk_password_is_stored_but_never_returned(scheduler: grpc.Channel, new_tenant: NewTenant) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    trunk = T.Trunk(host="sip.example.com", port=5060, username="bot", password="s3cret")
    request = T.CreateCampaignRequest(campaign_id="secret", campaign=_campaign(trunk=trunk), request_id="r1")
    shown = [
        stub.CreateCampaign(request, metadata=key).campaign,
        stub.CreateCampaign(request, metadata=key).campaign,  # the idempotent replay
        stub.GetCampaign(T.GetCampaignRequest(name="campaigns/secret"), metadata=key).campaign,
        *stub.ListCampaigns(T.ListCampaignsRequest(), metadata=key).campaigns,
        stub.PauseCampaign(T.PauseCampaignRequest(name="campaigns/secret"), metadata=key).campaign,
    ]
    for campaign in shown:
        assert campaign.trunk == T.Trunk(
            host="sip.example.com",
            port=5060,
            transport=T.TRUNK_TRANSPORT_UDP,
            number_format=T.TRUNK_NUMBER_FORMAT_E164_NO_PLUS,
            username="bot",
        )
        assert b"s3cret" not in campaign.SerializeToString()


def test_us_tcpa_campaign_needs_a_valid_callback_number(scheduler: grpc.Channel, new_tenant: NewTenant) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    assert _refused(stub, key, _campaign(compliance_profile="us-tcpa")) == {"campaign.callback_number"}
    for bad in ("12025550143", "+1 202 NOT A NUMBER", "+1202555014399999", "+7;x=1"):
        for profile in ("us-tcpa", "default"):
            campaign = _campaign(compliance_profile=profile, callback_number=bad)
            assert _refused(stub, key, campaign) == {"campaign.callback_number"}, (profile, bad)
    created = stub.CreateCampaign(
        T.CreateCampaignRequest(
            campaign_id="tcpa", campaign=_campaign(compliance_profile="us-tcpa", callback_number="+1 (202) 555-0143")
        ),
        metadata=key,
    ).campaign
    assert created.callback_number == CALLBACK  # stored as E.164


def test_dial_request_carries_the_structured_trunk_and_the_callback_number(
    scheduler: grpc.Channel, new_tenant: NewTenant, devstack: DevStack
) -> None:
    """What the scheduler hands on: the contact's number and the trunk as data (no URI, no password),
    and the callback number; the disclosure it pre-renders names the tenant and that number."""
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    trunk = T.Trunk(host="127.0.0.1", port=5070, number_format=T.TRUNK_NUMBER_FORMAT_E164, username="u", password="pw")
    stub.CreateCampaign(
        T.CreateCampaignRequest(campaign_id="dial", campaign=_campaign(trunk=trunk, callback_number=CALLBACK)),
        metadata=key,
    )
    (number,) = numbers_awake_now(1)
    stub.ImportContacts(
        iter(
            [
                T.ImportContactsRequest(
                    campaign="campaigns/dial", contacts=[T.Contact(phone_number=number, variables={"name": "Ann"})]
                )
            ]
        ),
        metadata=key,
    )
    stub.StartCampaign(T.StartCampaignRequest(name="campaigns/dial"), metadata=key)
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
    assert request.phone_number == number  # type: ignore[attr-defined]
    assert request.trunk == T.Trunk(  # type: ignore[attr-defined]
        host="127.0.0.1",
        port=5070,
        transport=T.TRUNK_TRANSPORT_UDP,
        number_format=T.TRUNK_NUMBER_FORMAT_E164,
        username="u",
    )
    assert request.callback_number == CALLBACK  # type: ignore[attr-defined]
    assert disclosure_text("en", "Acme", callback_number=CALLBACK) in texts
    assert "+1 202-555-0143" in disclosure_text("en", "Acme", callback_number=CALLBACK)
