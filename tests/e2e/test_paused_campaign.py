"""Paused means no new calls: a dial request already in Kafka when its campaign is paused is dropped by the
dialer when it takes it, its counter slots are given back, and the contact waits in the queue with its
attempt not counted (issue #10, item 10). Real scheduler and dialer processes; the trunk is a UDP socket
that must never see an INVITE."""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Callable

import redis
from obzvon.v1 import campaigns_pb2
from obzvon_devstack.demo import ApiClient
from obzvon_devstack.devstack import DevStack, numbers_awake_now, wait_healthy


def wait_until(check: Callable[[], bool], devstack: DevStack, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        devstack.check_alive()
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_requests_of_a_paused_campaign_are_dropped_at_claim_time(devstack: DevStack, test_redis: str) -> None:
    trunk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    trunk.bind(("127.0.0.1", 0))
    trunk.setblocking(False)
    number = numbers_awake_now(1)[0]
    counters = redis.Redis.from_url(test_redis)

    def frequency_slots() -> int:
        return sum(int(counters.get(k) or 0) for k in counters.scan_iter(f"obz:cmp:freq:{number}:*"))

    devstack.extra_env.update({"OBZVON_DIAL_WINDOW_S": "120"})  # the request outlives the dialer's start
    api = ApiClient(devstack)
    try:
        devstack.start("scheduler")
        wait_healthy(devstack.scheduler_addr, 60)
        api.create_tenant(f"pause-{uuid.uuid4().hex[:8]}")
        api.create_campaign("paused", sim_port=trunk.getsockname()[1], max_calls=1)
        api.import_contacts("paused", [number])
        api.start("paused")
        # No dialer yet: the request waits in Kafka while the tenant pauses the campaign.
        wait_until(lambda: api.contacts("paused")[0].status == "dialing", devstack)
        assert frequency_slots() == 1
        api.campaigns.PauseCampaign(campaigns_pb2.PauseCampaignRequest(name="campaigns/paused"), metadata=api.key)

        devstack.start("dialer")
        wait_until(lambda: api.contacts("paused")[0].status == "queued: campaign paused", devstack, 90)
        (contact,) = api.contacts("paused")
        assert contact.attempts == 0
        assert frequency_slots() == 0
        campaign = api.campaigns.GetCampaign(
            campaigns_pb2.GetCampaignRequest(name="campaigns/paused"), metadata=api.key
        ).campaign
        assert campaign.state == campaigns_pb2.CAMPAIGN_STATE_PAUSED
        with contextlib.suppress(BlockingIOError):
            datagram = trunk.recv(65536)
            raise AssertionError(f"the trunk got a datagram: {datagram[:80]!r}")
    finally:
        api.close()
        counters.close()
        trunk.close()
    devstack.stop()
    # Personal data stays out of the services' logs (item 16): the number at most masked.
    for log in devstack.workdir.glob("*.log"):
        assert number.lstrip("+") not in log.read_text(errors="replace"), log.name
