"""Spam risk: a campaign whose callees hang up within seconds pauses itself and says why."""

from __future__ import annotations

import time
import uuid

from obzvon.v1 import campaigns_pb2
from obzvon_devstack.demo import ApiClient, read_ground_truth
from obzvon_devstack.devstack import DevStack, free_port, numbers_awake_now, start_phonesim, stop_process


def test_campaign_pauses_itself_when_callees_hang_up_at_once(devstack: DevStack) -> None:
    sim_port = free_port(kind=2)
    devstack.workdir.mkdir(parents=True, exist_ok=True)
    ground_truth = devstack.workdir / "ground-truth.jsonl"
    numbers = numbers_awake_now(4)
    sim = start_phonesim(devstack.workdir, sim_port=sim_port, ground_truth=ground_truth, mix="hangup_early=1")
    devstack.extra_env.update({"OBZVON_SPAM_MIN_ANSWERED": "2", "OBZVON_SPAM_WINDOW": "10"})
    api = ApiClient(devstack)
    try:
        devstack.start("scheduler", "dialer", "tts", "reporting")
        devstack.wait_ready()
        api.create_tenant(f"spam-{uuid.uuid4().hex[:8]}")
        api.create_campaign("annoying", sim_port=sim_port, max_calls=1)  # one call at a time
        api.import_contacts("annoying", numbers)
        api.start("annoying")
        deadline = time.monotonic() + 120
        campaign = campaigns_pb2.Campaign()
        while time.monotonic() < deadline:
            devstack.check_alive()
            campaign = api.campaigns.GetCampaign(
                campaigns_pb2.GetCampaignRequest(name="campaigns/annoying"), metadata=api.key
            ).campaign
            if campaign.state == campaigns_pb2.CAMPAIGN_STATE_PAUSED:
                break
            time.sleep(0.5)
        time.sleep(3)  # a call wrongly placed after the pause would show up by now
    finally:
        api.close()
        stop_process(sim)
    assert campaign.state == campaigns_pb2.CAMPAIGN_STATE_PAUSED, campaign
    assert "spam risk: 100% of the last 2 answered calls were hung up within 5 s" in campaign.state_reason
    calls = read_ground_truth(ground_truth, {n.lstrip("+") for n in numbers}).calls
    assert len(calls) == 2 and all(c["ended_by"] == "phone" for c in calls)
