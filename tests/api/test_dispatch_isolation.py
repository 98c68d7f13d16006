"""A contact that cannot be dispatched fails alone, with its reason; the rest of its batch is dialled.

The API bounds every field now, so such a contact can only be one stored before the bounds existed
(or by a bug): it is written to the store directly here, and the real dispatcher runs one tick
against real Redis and Kafka.
"""

from __future__ import annotations

import time
import uuid

from obzvon.bus import Producer, ensure_topics
from obzvon.script import load_script_yaml
from obzvon.settings import CommonSettings
from obzvon.v1 import campaigns_pb2, tenants_pb2
from obzvon_devstack.devstack import numbers_awake_now
from obzvon_scheduler.admission import Admission
from obzvon_scheduler.campaigns import CampaignControl
from obzvon_scheduler.dispatcher import Dispatcher
from obzvon_scheduler.settings import SchedulerSettings
from obzvon_scheduler.store import Store
from redis.asyncio import Redis


async def test_an_oversized_contact_fails_alone_and_its_batch_is_dialled(
    test_redis: str, bus_settings: CommonSettings
) -> None:
    await ensure_topics(bus_settings)
    redis = Redis.from_url(test_redis)
    producer = Producer(bus_settings)
    await producer.start()
    try:
        store = Store(redis)
        tenant_id, campaign_id = f"t-{uuid.uuid4().hex[:8]}", "iso"
        await store.put_tenant(tenant_id, tenants_pb2.Tenant(display_name="Acme", caller_ids=["+74950000000"]))
        campaign = campaigns_pb2.Campaign(
            name=f"campaigns/{campaign_id}",
            display_name="Isolation",
            purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
            caller_id="+74950000000",
            compliance_profile="default",
            language="ru",
            voice="default:ru",
            state=campaigns_pb2.CAMPAIGN_STATE_RUNNING,
            max_concurrent_calls=10,
            max_attempts=1,
            trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
            script=load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n'),
        )
        await store.put_campaign(tenant_id, campaign_id, campaign)
        big_number, good_number = numbers_awake_now(2)
        await store.put_contacts(
            tenant_id,
            campaign_id,
            [
                # First in the batch (same due time, sorted by id); 1.5 MB is over a Kafka message.
                campaigns_pb2.Contact(contact_id="a-big", phone_number=big_number, variables={"note": "x" * 1_500_000}),
                campaigns_pb2.Contact(contact_id="b-good", phone_number=good_number),
            ],
        )
        now = time.time()
        for contact_id in ("a-big", "b-good"):
            await store.enqueue(tenant_id, campaign_id, contact_id, now)
        await store.set_running(tenant_id, campaign_id, True)
        admission = Admission(redis)
        settings = SchedulerSettings(topic_prefix=bus_settings.topic_prefix)
        dispatcher = Dispatcher(store, producer, CampaignControl(store, producer, admission), admission, settings)

        await dispatcher.tick(now)

        big = await store.get_contact(tenant_id, campaign_id, "a-big")
        good = await store.get_contact(tenant_id, campaign_id, "b-good")
        assert big is not None and good is not None
        assert big.status.startswith("failed: dial request of"), big.status
        assert good.status == "dialing"
        in_flight = await store.in_flight(tenant_id, campaign_id)
        assert [(await store.attempt_info(a))["contact_id"] for a in in_flight] == ["b-good"]
        await store.set_running(tenant_id, campaign_id, False)
    finally:
        await producer.stop()
        await redis.aclose()
