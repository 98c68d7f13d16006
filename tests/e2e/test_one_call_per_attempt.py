"""Never two calls for one attempt: duplicates and a dialer killed mid-call must not ring a phone twice."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

from obzvon import keys
from obzvon.bus import Producer, ensure_topics
from obzvon.script import load_script_yaml
from obzvon.settings import CommonSettings
from obzvon.topics import DIAL_REQUESTS
from obzvon.v1 import campaigns_pb2, events_pb2
from obzvon_devstack.devstack import DevStack, free_port, numbers_awake_now, start_phonesim, stop_process
from redis.asyncio import Redis

NUMBER = numbers_awake_now(1)[0].lstrip("+")
SCRIPT = load_script_yaml("""
start: hello
nodes:
  hello: {say: "Это проверочный звонок. Он длится несколько секунд, чтобы его можно было прервать.", next: bye}
  bye: {hangup: "До свидания"}
""")


def invites(ground_truth: Path) -> list[dict[str, object]]:
    if not ground_truth.exists():
        return []
    records = [json.loads(line) for line in ground_truth.read_text().splitlines()]
    return [r for r in records if r["event"] == "invite" and r["to_number"] == NUMBER]


async def wait_for(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.2)


async def mark_running(redis_url: str, tenant_id: str = "t1", campaign_id: str = "c1") -> None:
    """What StartCampaign records: the dialer drops dial requests of a campaign that is not running."""
    client = Redis.from_url(redis_url)
    try:
        await client.sadd(keys.running_campaigns(), keys.running_member(tenant_id, campaign_id))  # type: ignore[misc]
    finally:
        await client.aclose()


def dial_request(attempt_id: str, sim_port: int) -> events_pb2.DialRequest:
    request = events_pb2.DialRequest(
        attempt_id=attempt_id,
        tenant_id="t1",
        campaign_id="c1",
        contact_id="k1",
        phone_number=f"+{NUMBER}",
        caller_id="+74950000000",
        script=SCRIPT,
        language="ru",
        voice="espeak-ng:ru",
        trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=sim_port),
        tenant_display_name="Проверка",
        attempt_number=1,
        compliance_profile="default",
        purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
        registered_caller_ids=["+74950000000"],
        expected_duration_seconds=60,
    )
    request.not_after.FromSeconds(int(time.time()) + 300)
    return request


async def test_duplicate_and_redelivered_requests_ring_once(devstack: DevStack, test_redis: str) -> None:
    sim_port = free_port(kind=2)
    devstack.workdir.mkdir(parents=True, exist_ok=True)
    ground_truth = devstack.workdir / "ground-truth.jsonl"
    sim = start_phonesim(devstack.workdir, sim_port=sim_port, ground_truth=ground_truth, mix="yes=1")
    settings = CommonSettings(topic_prefix=devstack.topic_prefix)
    try:
        await ensure_topics(settings)
        await mark_running(test_redis)
        devstack.start("tts", "dialer")
        async with Producer(settings) as producer:
            run = uuid.uuid4().hex[:8]  # claims outlive a test run in the shared Redis
            first = dial_request(f"att-once-1-{run}", sim_port)
            # The same attempt twice, as a redelivery after a scheduler retry would produce it.
            await producer.send(DIAL_REQUESTS, first.attempt_id, first)
            await producer.send(DIAL_REQUESTS, first.attempt_id, first)
            await wait_for(lambda: len(invites(ground_truth)) >= 1, 90)

            # The dialer dies mid-call; its successor sees the attempt delivered yet again.
            devstack.kill("dialer")
            devstack.start_one("dialer", "-2")
            await producer.send(DIAL_REQUESTS, first.attempt_id, first)

            # A new attempt (a retry with a new id) must ring: proves the successor is taking work.
            retry = dial_request(f"att-once-2-{run}", sim_port)
            await producer.send(DIAL_REQUESTS, retry.attempt_id, retry)
            await wait_for(lambda: len(invites(ground_truth)) >= 2, 90)
            await asyncio.sleep(5)  # room for any wrongful extra INVITE to arrive
        devstack.check_alive()
    finally:
        stop_process(sim)
    assert len(invites(ground_truth)) == 2
