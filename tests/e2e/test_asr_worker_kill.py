"""An asr worker killed mid-batch loses no request: its uncommitted requests go to the next worker."""

from __future__ import annotations

import asyncio
import time
import uuid

from obzvon.bus import Consumer, Producer, ensure_topics
from obzvon.settings import CommonSettings
from obzvon.topics import ASR_REQUESTS, ASR_RESULTS
from obzvon.v1 import events_pb2
from obzvon_devstack.devstack import DevStack
from obzvon_phonesim.voices import render


async def test_requests_of_a_killed_worker_are_answered_by_the_next(devstack: DevStack) -> None:
    settings = CommonSettings(topic_prefix=devstack.topic_prefix)
    await ensure_topics(settings)
    yes, no = await render("да"), await render("нет")
    partition = 3  # the asking "dialer"'s own partition of asr.results
    requests = [
        events_pb2.AsrRequest(
            request_id=f"r{i}-{uuid.uuid4().hex[:6]}",
            call_id=f"call-{i}",
            audio=audio,
            sample_rate=8000,
            language="ru",
            expect=events_pb2.UTTERANCE_EXPECT_YES_NO,
            reply_partition=partition,
        )
        for i, audio in enumerate([yes, no] * 6)
    ]
    expected = {r.request_id: ("yes" if r.audio == yes else "no") for r in requests}
    answers: dict[str, list[str]] = {}
    decided_by: set[str] = set()
    async with (
        Consumer(settings, ASR_RESULTS, group_id=None, partitions=[partition]) as results,
        Producer(settings) as producer,
    ):
        devstack.start_one("asr")
        for request in requests:
            await producer.send(ASR_REQUESTS, request.call_id, request)
        deadline = time.monotonic() + 120
        while not answers and time.monotonic() < deadline:  # the first worker is at work
            for env in await results.getmany(timeout_s=0.5):
                answers.setdefault(env.value.request_id, []).append(env.value.intent)
                decided_by.add(env.value.decided_by)
        assert answers, "the first asr worker answered nothing"
        # Killed while requests are still unanswered: those must come from the next worker.
        assert len(answers) < len(expected), "the first worker finished everything before it could be killed"
        devstack.kill("asr")
        devstack.start_one("asr", "-2")
        deadline = time.monotonic() + 180
        while set(answers) != set(expected) and time.monotonic() < deadline:
            for env in await results.getmany(timeout_s=0.5):
                answers.setdefault(env.value.request_id, []).append(env.value.intent)
                decided_by.add(env.value.decided_by)
            await asyncio.sleep(0)
    assert set(answers) == set(expected)  # nothing lost
    # Redelivered requests may be answered twice (the dialer keeps the first); answers must agree.
    assert {rid: intents[0] for rid, intents in answers.items()} == expected
    assert all(len(set(intents)) == 1 for intents in answers.values())
    # The dialer's confirm_below reads how each answer was reached.
    assert decided_by and decided_by <= {"transcript", "scoring"}, decided_by
