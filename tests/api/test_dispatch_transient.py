"""A brief Kafka or Redis error at dispatch never loses a contact, and never dials it twice.

An attempt already written when the error came may have reached Kafka (ambiguous): it is left to the
deadline reconciliation ("dialer lost"), and no second request is published for it. Without an attempt
written the contact goes back to the queue after a short delay; after `dispatch_max_errors` such errors
in a row it is failed with its reason. The real dispatcher runs against real Redis and Kafka; only the
failure itself is staged (a producer or a store call that fails a set number of times).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from obzvon.bus import Producer, ensure_topics
from obzvon.script import load_script_yaml
from obzvon.settings import CommonSettings
from obzvon.topics import DIAL_REQUESTS
from obzvon.v1 import campaigns_pb2, tenants_pb2
from obzvon_devstack.devstack import numbers_awake_now
from obzvon_scheduler.admission import Admission
from obzvon_scheduler.campaigns import CampaignControl
from obzvon_scheduler.dispatcher import Dispatcher
from obzvon_scheduler.settings import SchedulerSettings
from obzvon_scheduler.store import Store
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

CONTACT = "k1"


class FlakyProducer:
    """The real producer, except that its first `failures` dial requests fail (a broker blip)."""

    def __init__(self, producer: Producer, failures: int, tenant_id: str) -> None:
        self._producer = producer
        self.failures = failures
        # The dispatcher walks every running campaign of the test database (other tests' too): only this
        # test's tenant is counted.
        self.tenant_id = tenant_id
        self.dial_requests: list[str] = []  # attempt ids really published

    async def send(self, topic: Any, key: str, value: Any) -> None:
        if topic is DIAL_REQUESTS and value.tenant_id == self.tenant_id:
            if self.failures > 0:
                self.failures -= 1
                raise ConnectionError("broker unavailable")
            self.dial_requests.append(key)
        await self._producer.send(topic, key, value)


class FlakyStore(Store):
    """Real Redis, except that reading the tenant fails the first `failures` times (before any attempt is written)."""

    def __init__(self, redis: Redis, failures: int) -> None:
        super().__init__(redis)
        self.failures = failures

    async def get_tenant(self, tenant_id: str) -> tenants_pb2.Tenant | None:
        if self.failures > 0:
            self.failures -= 1
            raise RedisConnectionError("redis unavailable")
        return await super().get_tenant(tenant_id)


@dataclass
class Setup:
    store: Store
    producer: FlakyProducer
    dispatcher: Dispatcher
    settings: SchedulerSettings
    tenant_id: str
    campaign_id: str

    async def contact(self) -> campaigns_pb2.Contact:
        contact = await self.store.get_contact(self.tenant_id, self.campaign_id, CONTACT)
        assert contact is not None
        return contact

    async def attempts_in_flight(self) -> list[str]:
        in_flight = await self.store.in_flight(self.tenant_id, self.campaign_id)
        return [a for a in in_flight if (await self.store.attempt_info(a)).get("contact_id") == CONTACT]

    async def queued_at(self) -> float | None:
        score = await self.store.redis.zscore(f"queue:{self.tenant_id}:{self.campaign_id}", CONTACT)
        return None if score is None else float(score)

    async def stop(self) -> None:
        await self.store.set_running(self.tenant_id, self.campaign_id, False)


async def setup(
    redis: Redis, bus: CommonSettings, producer: Producer, *, store: Store, producer_failures: int, now: float
) -> Setup:
    tenant_id, campaign_id = f"t-{uuid.uuid4().hex[:8]}", "blip"
    await store.put_tenant(tenant_id, tenants_pb2.Tenant(display_name="Acme", caller_ids=["+74950000000"]))
    campaign = campaigns_pb2.Campaign(
        name=f"campaigns/{campaign_id}",
        display_name="Blip",
        purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
        caller_id="+74950000000",
        compliance_profile="default",
        language="ru",
        voice="default:ru",
        state=campaigns_pb2.CAMPAIGN_STATE_RUNNING,
        max_concurrent_calls=10,
        max_attempts=3,
        trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
        script=load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n'),
    )
    await store.put_campaign(tenant_id, campaign_id, campaign)
    await store.put_contacts(
        tenant_id, campaign_id, [campaigns_pb2.Contact(contact_id=CONTACT, phone_number=numbers_awake_now(1)[0])]
    )
    await store.enqueue(tenant_id, campaign_id, CONTACT, now)
    await store.set_running(tenant_id, campaign_id, True)
    admission = Admission(redis)
    settings = SchedulerSettings(topic_prefix=bus.topic_prefix, dispatch_retry_delay_s=5.0, dispatch_max_errors=3)
    flaky = FlakyProducer(producer, producer_failures, tenant_id)
    dispatcher = Dispatcher(store, flaky, CampaignControl(store, producer, admission), admission, settings)  # type: ignore[arg-type]
    return Setup(store, flaky, dispatcher, settings, tenant_id, campaign_id)


async def test_an_attempt_in_doubt_is_left_to_reconciliation_not_failed_or_redialled(
    test_redis: str, bus_settings: CommonSettings
) -> None:
    await ensure_topics(bus_settings)
    redis = Redis.from_url(test_redis)
    producer = Producer(bus_settings)
    await producer.start()
    try:
        now = time.time()
        s = await setup(redis, bus_settings, producer, store=Store(redis), producer_failures=1, now=now)
        await s.dispatcher.tick(now)  # the dial request's send fails: it may or may not be in Kafka

        (attempt,) = await s.attempts_in_flight()  # still in flight, for the reconciliation to close
        assert not (await s.contact()).status.startswith("failed"), (await s.contact()).status
        assert await s.queued_at() is None  # not queued again: that would be a second request
        await s.dispatcher.tick(now + 1)
        await s.dispatcher.tick(now + 60)
        assert s.producer.dial_requests == []  # never a second request for the contact
        assert await s.attempts_in_flight() == [attempt]
        # Past its deadline the reconciliation closes it as "dialer lost" (the retry policy decides then).
        deadline = float((await s.store.attempt_info(attempt))["deadline"])
        await s.dispatcher.tick(deadline + 1)
        assert float((await s.store.attempt_info(attempt))["deadline"]) > deadline + 1  # announced once as lost
        assert s.producer.dial_requests == []
        await s.stop()
    finally:
        await producer.stop()
        await redis.aclose()


async def test_a_contact_whose_dispatch_failed_before_any_attempt_is_queued_again(
    test_redis: str, bus_settings: CommonSettings
) -> None:
    await ensure_topics(bus_settings)
    redis = Redis.from_url(test_redis)
    producer = Producer(bus_settings)
    await producer.start()
    try:
        now = time.time()
        s = await setup(redis, bus_settings, producer, store=FlakyStore(redis, 1), producer_failures=0, now=now)
        await s.dispatcher.tick(now)  # reading the tenant fails once

        assert await s.attempts_in_flight() == []
        assert (await s.contact()).status == "retry: dispatch error (ConnectionError)"
        assert await s.queued_at() == now + s.settings.dispatch_retry_delay_s
        await s.dispatcher.tick(now + 1)  # not yet due: not dialled, and the campaign is not complete
        assert s.producer.dial_requests == []
        assert (await s.store.get_campaign(s.tenant_id, s.campaign_id)).state == campaigns_pb2.CAMPAIGN_STATE_RUNNING  # type: ignore[union-attr]
        await s.dispatcher.tick(now + s.settings.dispatch_retry_delay_s)
        assert (await s.contact()).status == "dialing"
        assert len(s.producer.dial_requests) == 1
        await s.stop()
    finally:
        await producer.stop()
        await redis.aclose()


async def test_a_contact_that_keeps_failing_the_same_way_is_failed_with_its_reason(
    test_redis: str, bus_settings: CommonSettings
) -> None:
    await ensure_topics(bus_settings)
    redis = Redis.from_url(test_redis)
    producer = Producer(bus_settings)
    await producer.start()
    try:
        now = time.time()
        s = await setup(redis, bus_settings, producer, store=FlakyStore(redis, 1000), producer_failures=0, now=now)
        for n in range(s.settings.dispatch_max_errors):
            await s.dispatcher.tick(now + n * s.settings.dispatch_retry_delay_s)
            if n < s.settings.dispatch_max_errors - 1:  # tried again after each error but the last
                assert (await s.contact()).status == "retry: dispatch error (ConnectionError)"
                assert await s.queued_at() == now + (n + 1) * s.settings.dispatch_retry_delay_s
        assert (await s.contact()).status == "failed: dispatch error (ConnectionError)"
        assert await s.queued_at() is None
        assert await s.attempts_in_flight() == []
        assert s.producer.dial_requests == []
        # Nothing queued and nothing in flight: the campaign completes, the contact accounted for.
        campaign = await s.store.get_campaign(s.tenant_id, s.campaign_id)
        assert campaign is not None and campaign.state == campaigns_pb2.CAMPAIGN_STATE_COMPLETED
        await s.stop()
    finally:
        await producer.stop()
        await redis.aclose()
