"""The shared consumer exports its lag per topic (obzvon_kafka_consumer_lag): records after the last one
taken up, as of the last fetch. Real Kafka, a topic prefix of the test's own."""

from __future__ import annotations

from obzvon.bus import Consumer, Producer, ensure_topics
from obzvon.settings import CommonSettings
from obzvon.topics import CALL_EVENTS
from obzvon.v1 import events_pb2
from prometheus_client import REGISTRY


def lag() -> float | None:
    return REGISTRY.get_sample_value("obzvon_kafka_consumer_lag", {"topic": CALL_EVENTS.name})


async def test_lag_counts_the_records_not_yet_taken_up(bus_settings: CommonSettings) -> None:
    await ensure_topics(bus_settings, [CALL_EVENTS])
    async with Producer(bus_settings) as producer:
        for i in range(5):  # one key: one partition
            await producer.send(CALL_EVENTS, "a1", events_pb2.CallEvent(event_id=f"e{i}", attempt_id="a1"))
    async with Consumer(bus_settings, CALL_EVENTS, group_id=f"{bus_settings.topic_prefix}g") as consumer:
        first: list[object] = []
        for _ in range(40):
            first = list(await consumer.getmany(timeout_s=0.5, max_records=1))
            if first:
                break
        assert len(first) == 1
        assert lag() == 4
        taken = 1
        for _ in range(40):
            taken += len(await consumer.getmany(timeout_s=0.5))
            if taken == 5:
                break
        assert taken == 5 and lag() == 0
