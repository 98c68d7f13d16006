"""A dialer at capacity takes no more dial requests: they wait in Kafka, and no phone rings early."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from pathlib import Path

from obzvon.bus import Producer, ensure_topics
from obzvon.settings import CommonSettings
from obzvon.topics import DIAL_REQUESTS
from obzvon_devstack.devstack import DevStack, free_port, numbers_awake_now, start_phonesim, stop_process
from test_one_call_per_attempt import dial_request, mark_running


def calls(ground_truth: Path) -> list[tuple[float, float]]:
    records = [json.loads(line) for line in ground_truth.read_text().splitlines()] if ground_truth.exists() else []
    starts = {r["call_id"]: r["ts"] for r in records if r["event"] == "invite"}
    return [(starts[r["call_id"]], r["ts"]) for r in records if r["event"] == "call_end"]


async def test_one_call_at_a_time_when_capacity_is_one(devstack: DevStack, test_redis: str) -> None:
    sim_port = free_port(kind=2)
    devstack.workdir.mkdir(parents=True, exist_ok=True)
    ground_truth = devstack.workdir / "ground-truth.jsonl"
    sim = start_phonesim(devstack.workdir, sim_port=sim_port, ground_truth=ground_truth, mix="yes=1")
    settings = CommonSettings(topic_prefix=devstack.topic_prefix)
    devstack.extra_env["OBZVON_MAX_CALLS"] = "1"
    try:
        await ensure_topics(settings)
        await mark_running(test_redis)
        devstack.start("tts", "dialer")
        async with Producer(settings) as producer:
            for number in numbers_awake_now(3):
                request = dial_request(f"att-bp-{uuid.uuid4().hex[:8]}", sim_port)
                request.phone_number = number
                await producer.send(DIAL_REQUESTS, request.attempt_id, request)
        deadline = time.monotonic() + 150
        while len(calls(ground_truth)) < 3 and time.monotonic() < deadline:
            devstack.check_alive()
            await asyncio.sleep(0.5)
    finally:
        stop_process(sim)
    spans = sorted(calls(ground_truth))
    assert len(spans) == 3
    # Each call starts only after the previous one ended.
    assert all(later[0] >= earlier[1] - 0.2 for earlier, later in itertools.pairwise(spans)), spans
