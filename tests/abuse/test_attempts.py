"""Every call placed is counted: re-importing a contact never reuses an old attempt id, so the
frequency cap and the 230-FZ counters see every admission (issue #10, item 4).

No dialer runs: each attempt is closed as `dialer lost` after its short deadline and keeps its counter
slots (an unknown outcome is counted), which is what a hostile tenant re-importing would exploit."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from obzvon.script import load_script_yaml
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc
from obzvon_devstack.devstack import numbers_awake_now

Metadata = list[tuple[str, str]]
NewTenant = Callable[[], Metadata]

CAMPAIGN = "campaigns/again"


def _wait_for(stub: campaigns_pb2_grpc.CampaignServiceStub, key: Metadata, done: str) -> campaigns_pb2.Contact:
    deadline = time.monotonic() + 30
    while True:
        (contact,) = stub.ListContacts(campaigns_pb2.ListContactsRequest(campaign=CAMPAIGN), metadata=key).contacts
        if contact.status.startswith(done) or time.monotonic() > deadline:
            return contact
        time.sleep(0.2)


def test_reimported_contact_gets_fresh_attempt_ids_and_is_counted(
    scheduler: grpc.Channel, new_tenant: NewTenant
) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id="again",
            campaign=campaigns_pb2.Campaign(
                display_name="Again",
                purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
                caller_id="+74950000000",
                compliance_profile="default",  # at most 2 answered robocalls a day per number
                language="ru",
                trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
                max_attempts=1,
                script=load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n'),
            ),
        ),
        metadata=key,
    )
    number = numbers_awake_now(1)[0]
    statuses = []
    for _ in range(3):
        # The same contact, imported again as if new (attempts 0), and the campaign started again.
        stub.ImportContacts(
            iter(
                [
                    campaigns_pb2.ImportContactsRequest(
                        campaign=CAMPAIGN, contacts=[campaigns_pb2.Contact(contact_id="k", phone_number=number)]
                    )
                ]
            ),
            metadata=key,
        )
        stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name=CAMPAIGN), metadata=key)
        statuses.append(_wait_for(stub, key, "failed: dialer lost" if len(statuses) < 2 else "blocked:").status)
    trail = stub.ListAdmissionDecisions(
        campaigns_pb2.ListAdmissionDecisionsRequest(campaign=CAMPAIGN, contact_id="k"), metadata=key
    ).decisions
    admits = [d for d in trail if d.phase == "admit"]
    admitted_ids = [d.attempt_id for d in admits if d.decision == "admitted"]
    assert len(admitted_ids) == 2 and len(set(admitted_ids)) == 2, [(d.attempt_id, d.detail) for d in admits]
    assert not any("replayed" in d.detail for d in admits)
    # Two unknown outcomes hold both of the day's slots: the third admission is refused.
    assert statuses == ["failed: dialer lost", "failed: dialer lost", "blocked: frequency cap"], statuses
    assert len({d.attempt_id for d in admits}) == 3
