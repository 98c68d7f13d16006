"""A spam pause sticks (issue #10, item 9): after the spam-risk monitor pauses a campaign, StartCampaign
needs an explicit acknowledgement and waits out a cooldown; and the monitor watches the tenant across its
campaigns, so a list split into small campaigns pauses all of them.

The scheduler is the real process. Its answered calls come as call events on call.events, as a dialer
would send them (callees hanging up one second after answering), so no phone or dialer is needed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from obzvon.bus import Producer, ensure_topics
from obzvon.script import load_script_yaml
from obzvon.settings import CommonSettings
from obzvon.topics import CALL_EVENTS
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, events_pb2, tenants_pb2, tenants_pb2_grpc
from obzvon_devstack.devstack import DevStack, numbers_awake_now, wait_healthy

Metadata = list[tuple[str, str]]
COOLDOWN_S = 3
T = events_pb2.CallEventType


@pytest.fixture
def spam_scheduler(devstack: DevStack) -> Iterator[grpc.Channel]:
    devstack.extra_env.update(
        {
            "OBZVON_SPAM_MIN_ANSWERED": "2",
            "OBZVON_SPAM_WINDOW": "10",
            "OBZVON_SPAM_PAUSE_COOLDOWN_S": str(COOLDOWN_S),
            "OBZVON_ABANDONMENT_MIN_ANSWERED": "4",
            "OBZVON_DIAL_WINDOW_S": "300",  # no dialer: the campaigns' attempts stay in flight, so they keep running
        }
    )
    devstack.start("scheduler")
    wait_healthy(devstack.scheduler_addr, 60)
    with grpc.insecure_channel(devstack.scheduler_addr) as channel:
        yield channel


def tenant(channel: grpc.Channel, devstack: DevStack) -> tuple[str, Metadata]:
    tenant_id = f"t-{uuid.uuid4().hex[:8]}"
    created = tenants_pb2_grpc.TenantServiceStub(channel).CreateTenant(
        tenants_pb2.CreateTenantRequest(
            tenant_id=tenant_id, tenant=tenants_pb2.Tenant(display_name="Acme", caller_ids=["+74950000000"])
        ),
        metadata=[("x-api-key", devstack.admin_api_key)],
    )
    return tenant_id, [("x-api-key", created.api_key)]


def running_campaign(
    stub: campaigns_pb2_grpc.CampaignServiceStub, key: Metadata, campaign_id: str, profile: str = "default"
) -> None:
    stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id=campaign_id,
            campaign=campaigns_pb2.Campaign(
                display_name="Spam",
                purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
                caller_id="+74950000000",
                compliance_profile=profile,
                callback_number="+12025550143",
                language="ru",
                trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
                script=load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n'),
            ),
        ),
        metadata=key,
    )
    stub.ImportContacts(
        iter(
            [
                campaigns_pb2.ImportContactsRequest(
                    campaign=f"campaigns/{campaign_id}",
                    contacts=[campaigns_pb2.Contact(contact_id="k", phone_number=numbers_awake_now(1)[0])],
                )
            ]
        ),
        metadata=key,
    )
    stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name=f"campaigns/{campaign_id}"), metadata=key)


# (campaign, how it ended, seconds from answer to the robot's first audio or None)
AnsweredCall = tuple[str, "events_pb2.CallOutcome.ValueType", float | None]


async def answered_calls(devstack: DevStack, tenant_id: str, calls: list[AnsweredCall]) -> None:
    """Answered calls as a dialer reports them: (campaign, how it ended, seconds from answer to the robot's
    first audio or None when it never spoke), each ended a second after the answer."""
    settings = CommonSettings(topic_prefix=devstack.topic_prefix)
    await ensure_topics(settings)
    async with Producer(settings) as producer:
        for campaign_id, outcome, audio_after_s in calls:
            attempt_id = f"att-{uuid.uuid4().hex}"
            answered, ended = Timestamp(), Timestamp()
            answered.FromNanoseconds(time.time_ns() - 1_000_000_000)
            ended.FromNanoseconds(time.time_ns())
            completed = events_pb2.CallEvent(type=T.CALL_EVENT_TYPE_COMPLETED, time=ended, sequence=2)
            completed.outcome.outcome = outcome
            if audio_after_s is not None:
                completed.robot_audio_after_answer.FromNanoseconds(int(audio_after_s * 1e9))
            for event in (events_pb2.CallEvent(type=T.CALL_EVENT_TYPE_ANSWERED, time=answered, sequence=1), completed):
                event.event_id = uuid.uuid4().hex
                event.attempt_id = attempt_id
                event.tenant_id = tenant_id
                event.campaign_id = campaign_id
                event.contact_id = "k"
                await producer.send(CALL_EVENTS, attempt_id, event)


async def hung_up_at_once(devstack: DevStack, tenant_id: str, campaign_ids: list[str]) -> None:
    """One answered call per campaign that the callee hung up a second after answering."""
    await answered_calls(devstack, tenant_id, [(c, events_pb2.CALL_OUTCOME_CALLEE_HUNG_UP, 0.1) for c in campaign_ids])


def campaign(stub: campaigns_pb2_grpc.CampaignServiceStub, key: Metadata, campaign_id: str) -> campaigns_pb2.Campaign:
    response = stub.GetCampaign(campaigns_pb2.GetCampaignRequest(name=f"campaigns/{campaign_id}"), metadata=key)
    return response.campaign


def wait_paused(
    stub: campaigns_pb2_grpc.CampaignServiceStub, key: Metadata, campaign_id: str
) -> campaigns_pb2.Campaign:
    deadline = time.monotonic() + 30
    while (c := campaign(stub, key, campaign_id)).state != campaigns_pb2.CAMPAIGN_STATE_PAUSED:
        assert time.monotonic() < deadline, c
        time.sleep(0.2)
    return c


def start_refused(stub: campaigns_pb2_grpc.CampaignServiceStub, key: Metadata, name: str, ack: bool) -> str:
    with pytest.raises(grpc.RpcError) as raised:
        stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name=name, acknowledge_spam_pause=ack), metadata=key)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    return str(raised.value.details())  # type: ignore[attr-defined]


def test_restart_after_a_spam_pause_needs_acknowledgement_and_a_cooldown(
    spam_scheduler: grpc.Channel, devstack: DevStack
) -> None:
    tenant_id, key = tenant(spam_scheduler, devstack)
    stub = campaigns_pb2_grpc.CampaignServiceStub(spam_scheduler)
    running_campaign(stub, key, "loud")
    asyncio.run(hung_up_at_once(devstack, tenant_id, ["loud", "loud"]))
    paused = wait_paused(stub, key, "loud")
    assert paused.state_reason.startswith("spam risk: 100% of the last 2 answered calls were hung up")
    assert paused.spam_pause.reason == paused.state_reason
    cooldown_end = paused.spam_pause.cooldown_end_time.ToDatetime()
    assert 0 < (cooldown_end - paused.spam_pause.pause_time.ToDatetime()).total_seconds() <= COOLDOWN_S + 1

    # Not acknowledged: refused, naming why it was paused and when the cooldown ends.
    details = start_refused(stub, key, "campaigns/loud", ack=False)
    assert "acknowledge_spam_pause" in details and paused.state_reason in details
    assert cooldown_end.strftime("%H:%M:%S") in details
    # Acknowledged, but the cooldown has not ended.
    assert "cooldown" in start_refused(stub, key, "campaigns/loud", ack=True)
    assert campaign(stub, key, "loud").state == campaigns_pb2.CAMPAIGN_STATE_PAUSED

    time.sleep(COOLDOWN_S + 0.5)
    assert "acknowledge_spam_pause" in start_refused(stub, key, "campaigns/loud", ack=False)
    started = stub.StartCampaign(
        campaigns_pb2.StartCampaignRequest(name="campaigns/loud", acknowledge_spam_pause=True), metadata=key
    ).campaign
    assert started.state == campaigns_pb2.CAMPAIGN_STATE_RUNNING and not started.HasField("spam_pause")
    # A pause by the tenant itself needs no acknowledgement.
    stub.PauseCampaign(campaigns_pb2.PauseCampaignRequest(name="campaigns/loud"), metadata=key)
    stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name="campaigns/loud"), metadata=key)


def test_a_list_split_into_small_campaigns_is_watched_as_one(spam_scheduler: grpc.Channel, devstack: DevStack) -> None:
    tenant_id, key = tenant(spam_scheduler, devstack)
    stub = campaigns_pb2_grpc.CampaignServiceStub(spam_scheduler)
    for campaign_id in ("part-1", "part-2", "part-3"):
        running_campaign(stub, key, campaign_id)
    # One answered call each for two of them: under each campaign's minimum, past the tenant's.
    asyncio.run(hung_up_at_once(devstack, tenant_id, ["part-1", "part-2"]))
    for campaign_id in ("part-1", "part-2", "part-3"):
        paused = wait_paused(stub, key, campaign_id)
        assert "across the tenant's campaigns" in paused.state_reason, paused.state_reason
        assert paused.spam_pause.reason == paused.state_reason
    assert "acknowledge_spam_pause" in start_refused(stub, key, "campaigns/part-3", ack=False)
    # A fresh campaign started to get round the pause waits out the tenant's cooldown too.
    running_campaign_refused = start_refused
    with pytest.raises(grpc.RpcError) as raised:
        running_campaign(stub, key, "part-4")
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert "across the tenant's campaigns" in str(raised.value.details())  # type: ignore[attr-defined]
    assert "cooldown" in running_campaign_refused(stub, key, "campaigns/part-4", ack=True)


def test_abandoned_calls_pause_a_us_tcpa_campaign(spam_scheduler: grpc.Channel, devstack: DevStack) -> None:
    """Item 6: answered calls in which the callee heard no robot within 2 s are abandoned; past the
    profile's share (us-tcpa: 3 % over 30 days) the campaign pauses and says why."""
    tenant_id, key = tenant(spam_scheduler, devstack)
    stub = campaigns_pb2_grpc.CampaignServiceStub(spam_scheduler)
    running_campaign(stub, key, "tcpa", profile="us-tcpa")
    running_campaign(stub, key, "plain")  # the default profile sets no abandonment limit
    done, not_ready = events_pb2.CALL_OUTCOME_COMPLETED, events_pb2.CALL_OUTCOME_PROMPT_NOT_READY
    calls: list[AnsweredCall] = [("tcpa", done, 0.2), ("tcpa", done, 0.25)]
    calls += [("tcpa", done, 2.5), ("tcpa", not_ready, None)]
    calls += [("plain", done, 2.5), ("plain", done, 0.2)] * 2
    asyncio.run(answered_calls(devstack, tenant_id, calls))
    paused = wait_paused(stub, key, "tcpa")
    assert paused.state_reason == (
        "abandoned calls: 50% of the 4 answered calls in the last 30 days heard no robot audio within 2 s (limit 3%)"
    ), paused.state_reason
    assert campaign(stub, key, "plain").state == campaigns_pb2.CAMPAIGN_STATE_RUNNING
