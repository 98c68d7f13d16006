"""The scheduler's metrics are counted where the thing happens.

Compliance blocks, through the public API on a real scheduler process scraped over HTTP: a number on
the tenant's DNC list is held back at import (phase "screen"), one listed after the import is held back
when the campaign runs (phase "admit"), and a third is admitted. A spam-risk pause, in-process against
the local Redis: the campaign the monitor pauses is counted once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, cast

import grpc
from obzvon.script import load_script_yaml
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, dnc_pb2, dnc_pb2_grpc
from obzvon_devstack.devstack import DevStack, numbers_awake_now
from obzvon_scheduler.campaigns import CampaignControl
from obzvon_scheduler.store import Store
from prometheus_client import REGISTRY
from redis.asyncio import Redis

NewTenant = Callable[[], list[tuple[str, str]]]

SCRIPT = load_script_yaml("""
start: bye
nodes:
  bye: {hangup: "До свидания"}
""")


def sample(devstack: DevStack, name: str, **labels: str) -> float:
    """One series' value on the scheduler's endpoint; 0 when it has no such series."""
    for family in devstack.scrape("scheduler"):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


def test_compliance_blocks_are_counted_by_rule_and_phase(
    scheduler: grpc.Channel, new_tenant: NewTenant, devstack: DevStack
) -> None:
    key = new_tenant()
    dnc = dnc_pb2_grpc.DncServiceStub(scheduler)
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    listed, listed_later, fine = numbers_awake_now(3)
    blocks = "obzvon_compliance_blocks_total"
    before = {phase: sample(devstack, blocks, phase=phase, rule="DNC") for phase in ("screen", "admit", "recheck")}
    admitted_before = sample(devstack, "obzvon_compliance_admitted_total", phase="admit")

    dnc.AddDncNumbers(dnc_pb2.AddDncNumbersRequest(phone_numbers=[listed]), metadata=key)
    stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id="info",
            campaign=campaigns_pb2.Campaign(
                display_name="Reminder",
                purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
                script=SCRIPT,
                caller_id="+74950000000",
                compliance_profile="default",
                language="ru",
                trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
            ),
        ),
        metadata=key,
    )
    contacts = [
        campaigns_pb2.Contact(contact_id=f"c{i}", phone_number=n) for i, n in enumerate((listed, listed_later, fine))
    ]
    response = stub.ImportContacts(
        iter([campaigns_pb2.ImportContactsRequest(campaign="campaigns/info", contacts=contacts)]), metadata=key
    )
    assert response.imported == 2
    assert sample(devstack, blocks, phase="screen", rule="DNC") == before["screen"] + 1

    dnc.AddDncNumbers(dnc_pb2.AddDncNumbersRequest(phone_numbers=[listed_later]), metadata=key)
    stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name="campaigns/info"), metadata=key)
    deadline = time.monotonic() + 30
    while (
        sample(devstack, blocks, phase="admit", rule="DNC") < before["admit"] + 1
        or sample(devstack, "obzvon_compliance_admitted_total", phase="admit") < admitted_before + 1
    ):
        assert time.monotonic() < deadline, "the admission of one contact and the DNC block of the other went uncounted"
        time.sleep(0.2)
    assert sample(devstack, blocks, phase="admit", rule="DNC") == before["admit"] + 1
    # The dialer's last look is the dialer's to count; the scheduler's series stays as it was.
    assert sample(devstack, blocks, phase="recheck", rule="DNC") == before["recheck"]


async def test_a_spam_pause_is_counted(test_redis: str) -> None:
    redis = Redis.from_url(test_redis)
    store = Store(redis)
    control = CampaignControl(store, cast(Any, None), cast(Any, None))  # a pause neither sends nor admits
    campaign = campaigns_pb2.Campaign(
        name=f"campaigns/c-{uuid.uuid4().hex[:8]}", state=campaigns_pb2.CAMPAIGN_STATE_RUNNING
    )
    before = REGISTRY.get_sample_value("obzvon_scheduler_spam_pauses_total") or 0.0
    try:
        paused = await control.pause_for_spam(f"t-{uuid.uuid4().hex[:8]}", campaign, "spam risk: test", 60)
    finally:
        await redis.aclose()
    assert paused.state == campaigns_pb2.CAMPAIGN_STATE_PAUSED
    assert REGISTRY.get_sample_value("obzvon_scheduler_spam_pauses_total") == before + 1
