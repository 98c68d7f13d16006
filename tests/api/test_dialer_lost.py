"""An attempt nobody finishes is closed as `failed: dialer lost` after its deadline, and the retry
policy makes a new attempt (a new id), never a blind re-send of the old one."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from obzvon.script import load_script_yaml
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc
from obzvon_devstack.devstack import DevStack, numbers_awake_now

NewTenant = Callable[[], list[tuple[str, str]]]


def test_lost_attempts_are_closed_and_retried_with_new_ids(
    devstack: DevStack, new_tenant: NewTenant, scheduler: grpc.Channel
) -> None:
    # No dialer runs: every dial request is lost. Deadlines are short for the test.
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id="lost",
            campaign=campaigns_pb2.Campaign(
                display_name="Lost",
                purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
                caller_id="+74950000000",
                compliance_profile="default",
                language="ru",
                trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
                max_attempts=2,
                retry_delay_seconds=1,
                script=load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n'),
            ),
        ),
        metadata=key,
    )
    stub.ImportContacts(
        iter(
            [
                campaigns_pb2.ImportContactsRequest(
                    campaign="campaigns/lost",
                    contacts=[campaigns_pb2.Contact(contact_id="k", phone_number=numbers_awake_now(1)[0])],
                )
            ]
        ),
        metadata=key,
    )
    stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name="campaigns/lost"), metadata=key)

    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 60
    state = campaigns_pb2.CAMPAIGN_STATE_RUNNING
    while time.monotonic() < deadline and state != campaigns_pb2.CAMPAIGN_STATE_COMPLETED:
        (contact,) = stub.ListContacts(
            campaigns_pb2.ListContactsRequest(campaign="campaigns/lost"), metadata=key
        ).contacts
        if not seen or seen[-1] != (contact.status, contact.attempts):
            seen.append((contact.status, contact.attempts))
        state = stub.GetCampaign(campaigns_pb2.GetCampaignRequest(name="campaigns/lost"), metadata=key).campaign.state
        time.sleep(0.2)
    assert state == campaigns_pb2.CAMPAIGN_STATE_COMPLETED, seen
    assert seen[-1] == ("failed: dialer lost", 2)
    assert ("retry: dialer lost", 1) in seen
    trail = stub.ListAdmissionDecisions(
        campaigns_pb2.ListAdmissionDecisionsRequest(campaign="campaigns/lost", contact_id="k"), metadata=key
    ).decisions
    attempts = [d.attempt_id for d in trail if d.phase == "admit"]
    assert len(attempts) == 2 and attempts[0] != attempts[1]
