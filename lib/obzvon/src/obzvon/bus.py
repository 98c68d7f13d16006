"""The Kafka bus on aiokafka: protobuf values, string keys, W3C trace context in headers,
manual commits after processing.

Producers send one protobuf message per record; consumers yield :class:`Envelope` objects and the
caller commits each one once its work is durable (at-least-once; handlers deduplicate by id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from google.protobuf.message import DecodeError, Message
from opentelemetry import context as otel_context
from prometheus_client import Gauge

from obzvon.limits import MAX_KAFKA_MESSAGE_BYTES
from obzvon.settings import CommonSettings
from obzvon.telemetry import context_from_headers, context_to_headers
from obzvon.topics import ALL_TOPICS, Topic

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)

# Records of a topic this process's consumers have not yet taken up, over their partitions (topic: the
# name in obzvon.topics, without OBZVON_TOPIC_PREFIX). Set in Consumer._decode from each fetch's high-water
# marks, so it holds still while a consumer is paused; KEDA reads lag from the broker (kafka triggers).
CONSUMER_LAG = Gauge("obzvon_kafka_consumer_lag", "records not yet consumed, per topic", ["topic"])


@dataclass
class Envelope(Generic[M]):
    """One consumed record, decoded."""

    topic: str
    partition: int
    offset: int
    key: str
    value: M
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def trace_context(self) -> otel_context.Context:
        return context_from_headers(self.headers)


async def ensure_topics(settings: CommonSettings, topics: Iterable[Topic[Any]] = ALL_TOPICS) -> None:
    """Creates the topics with their partition counts; existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(t.full_name(settings.topic_prefix), num_partitions=t.partitions, replication_factor=1)
            for t in topics
            if t.full_name(settings.topic_prefix) not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another service created them first
    finally:
        await admin.close()


class Producer:
    """Sends protobuf messages; idempotent producer so a retry inside the client never duplicates."""

    def __init__(self, settings: CommonSettings) -> None:
        self._settings = settings
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            # Explicit, because the API's bounds (obzvon.limits) are sized so every DialRequest fits it.
            max_request_size=MAX_KAFKA_MESSAGE_BYTES,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> Producer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def send(
        self,
        topic: Topic[M],
        key: str,
        value: M,
        *,
        partition: int | None = None,
        context: otel_context.Context | None = None,
    ) -> None:
        """Sends and waits for the broker's acknowledgement."""
        if not isinstance(value, topic.value_type):
            raise TypeError(f"{topic.name} carries {topic.value_type.__name__}, not {type(value).__name__}")
        await self._producer.send_and_wait(
            topic.full_name(self._settings.topic_prefix),
            value=value.SerializeToString(),
            key=key.encode(),
            partition=partition,
            headers=context_to_headers(context),
        )


class Consumer(Generic[M]):
    """Consumes one topic in a consumer group (or fixed partitions without a group), commits manually."""

    def __init__(
        self,
        settings: CommonSettings,
        topic: Topic[M],
        *,
        group_id: str | None,
        partitions: list[int] | None = None,
        from_beginning: bool = True,
        max_poll_records: int = 50,
    ) -> None:
        self._topic = topic
        self._name = topic.full_name(settings.topic_prefix)
        self._partitions = partitions
        self._from_latest = not from_beginning
        self._lag: dict[int, int] = {}  # partition -> records after the last one taken up
        self._consumer = AIOKafkaConsumer(
            *([] if partitions is not None else [self._name]),
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            isolation_level="read_committed",
            max_poll_records=max_poll_records,
        )

    async def start(self) -> None:
        await self._consumer.start()
        if self._partitions is not None:
            assigned = [TopicPartition(self._name, p) for p in self._partitions]
            self._consumer.assign(assigned)
            if self._from_latest:
                # Resolve the position now: a reply produced right after start() must not be skipped.
                await self._consumer.seek_to_end(*assigned)
                for tp in assigned:
                    await self._consumer.position(tp)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def __aenter__(self) -> Consumer[M]:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> Envelope[M] | None:
        self._note_lag(record)
        value = self._topic.value_type()
        try:
            value.ParseFromString(record.value or b"")
        except DecodeError:
            log.error("undecodable record skipped", extra={"topic": record.topic, "offset": record.offset})
            return None
        return Envelope(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=(record.key or b"").decode(errors="replace"),
            value=value,
            headers=list(record.headers or ()),
        )

    def _note_lag(self, record: ConsumerRecord[bytes, bytes]) -> None:
        high = self._consumer.highwater(TopicPartition(record.topic, record.partition))
        if high is None:
            return
        self._lag[record.partition] = max(high - record.offset - 1, 0)
        # Partitions a rebalance took away are another consumer's to count now.
        mine = {tp.partition for tp in self._consumer.assignment()}
        self._lag = {p: lag for p, lag in self._lag.items() if p in mine}
        CONSUMER_LAG.labels(topic=self._topic.name).set(sum(self._lag.values()))

    async def __aiter__(self) -> AsyncIterator[Envelope[M]]:
        async for record in self._consumer:
            env = self._decode(record)
            if env is not None:
                yield env

    async def getmany(self, timeout_s: float = 0.5, max_records: int | None = None) -> list[Envelope[M]]:
        batches = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        out: list[Envelope[M]] = []
        for records in batches.values():
            for record in records:
                env = self._decode(record)
                if env is not None:
                    out.append(env)
        return out

    async def commit(self, env: Envelope[M]) -> None:
        """Commits everything up to and including this record of its partition."""
        tp = TopicPartition(env.topic, env.partition)
        await self._consumer.commit({tp: env.offset + 1})

    def pause(self) -> None:
        """Stops fetching (back-pressure): records stay in Kafka for other instances or for later."""
        self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(*self._consumer.assignment())

    async def wait_assigned(self, timeout_s: float = 30.0) -> None:
        """Waits until the group has given this consumer its partitions."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self._consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no partitions of {self._name} assigned within {timeout_s} s")
            await asyncio.sleep(0.1)
