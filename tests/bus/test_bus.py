"""The Kafka bus across process boundaries: trace context travels, uncommitted records come back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid

from obzvon.bus import Consumer, Producer, ensure_topics
from obzvon.settings import CommonSettings
from obzvon.telemetry import context_from_headers
from obzvon.topics import CALL_EVENTS
from obzvon.v1 import events_pb2
from opentelemetry import trace


def _run_python(code: str, settings: CommonSettings) -> subprocess.Popen[str]:
    env = {**os.environ, "OBZVON_TOPIC_PREFIX": settings.topic_prefix}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


PRODUCER = """
    import asyncio, json
    from opentelemetry import trace
    from obzvon.bus import Producer
    from obzvon.settings import CommonSettings
    from obzvon.telemetry import setup_tracing
    from obzvon.topics import CALL_EVENTS
    from obzvon.v1 import events_pb2

    async def main():
        setup_tracing("test-producer")
        async with Producer(CommonSettings()) as producer:
            with trace.get_tracer("t").start_as_current_span("place call") as span:
                event = events_pb2.CallEvent(event_id="e1", attempt_id="a1", type=events_pb2.CALL_EVENT_TYPE_DIALING)
                await producer.send(CALL_EVENTS, "a1", event)
                print(json.dumps({"trace_id": format(span.get_span_context().trace_id, "032x")}), flush=True)

    asyncio.run(main())
"""


async def test_trace_id_survives_the_trip_to_another_process(bus_settings: CommonSettings) -> None:
    await ensure_topics(bus_settings, [CALL_EVENTS])
    proc = _run_python(PRODUCER, bus_settings)
    out, err = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 0, err
    sent_trace_id = json.loads(out.strip().splitlines()[-1])["trace_id"]

    async with Consumer(bus_settings, CALL_EVENTS, group_id=f"{bus_settings.topic_prefix}g") as consumer:
        received = []
        for _ in range(40):
            received += await consumer.getmany(timeout_s=0.5)
            if received:
                break
    assert len(received) == 1
    env = received[0]
    assert env.key == "a1" and env.value.event_id == "e1"
    span_context = trace.get_current_span(context_from_headers(env.headers)).get_span_context()
    assert format(span_context.trace_id, "032x") == sent_trace_id


SLOW_CONSUMER = """
    import asyncio, sys
    from obzvon.bus import Consumer
    from obzvon.settings import CommonSettings
    from obzvon.topics import CALL_EVENTS

    async def main():
        settings = CommonSettings()
        async with Consumer(settings, CALL_EVENTS, group_id=settings.topic_prefix + "workers") as consumer:
            while True:
                for env in await consumer.getmany(timeout_s=0.5):
                    print("took", env.value.event_id, flush=True)
                    await asyncio.sleep(3600)  # killed here, before its commit

    asyncio.run(main())
"""


async def test_record_of_a_consumer_killed_before_commit_is_redelivered(bus_settings: CommonSettings) -> None:
    await ensure_topics(bus_settings, [CALL_EVENTS])
    event_id = uuid.uuid4().hex
    async with Producer(bus_settings) as producer:
        await producer.send(CALL_EVENTS, "a1", events_pb2.CallEvent(event_id=event_id, attempt_id="a1"))

    worker = _run_python(SLOW_CONSUMER, bus_settings)
    assert worker.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), 60)
    assert line.split() == ["took", event_id]
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)

    # The same group, a new member: the uncommitted record must come again.
    async with Consumer(bus_settings, CALL_EVENTS, group_id=f"{bus_settings.topic_prefix}workers") as consumer:
        again = []
        for _ in range(120):
            again += await consumer.getmany(timeout_s=0.5)
            if again:
                break
        assert [e.value.event_id for e in again] == [event_id]
        await consumer.commit(again[0])

    # Committed now: a third member gets nothing.
    async with Consumer(bus_settings, CALL_EVENTS, group_id=f"{bus_settings.topic_prefix}workers") as consumer:
        later = []
        for _ in range(8):
            later += await consumer.getmany(timeout_s=0.5)
        assert later == []
