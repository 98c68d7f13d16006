"""Consumes call.events: final outcomes close attempts, set contact statuses and apply the retry policy."""

from __future__ import annotations

import asyncio
import logging
import time

from obzvon.bus import Consumer
from obzvon.log import log_context
from obzvon.v1 import events_pb2

from obzvon_scheduler.settings import SchedulerSettings
from obzvon_scheduler.store import Store

log = logging.getLogger(__name__)

# Outcomes worth another attempt later; anything else (answered, bad number, opted out) is final.
RETRYABLE = {"busy", "no answer", "dialer lost", "trunk unavailable"}


class OutcomeConsumer:
    def __init__(self, store: Store, consumer: Consumer[events_pb2.CallEvent], settings: SchedulerSettings) -> None:
        self._store = store
        self._consumer = consumer
        self._settings = settings

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for env in await self._consumer.getmany(timeout_s=0.5):
                event = env.value
                if event.type in (events_pb2.CALL_EVENT_TYPE_COMPLETED, events_pb2.CALL_EVENT_TYPE_FAILED):
                    with log_context(tenant_id=event.tenant_id, campaign_id=event.campaign_id,
                                     attempt_id=event.attempt_id):
                        await self.on_final(event)
                await self._consumer.commit(env)

    async def on_final(self, event: events_pb2.CallEvent) -> None:
        tenant_id, campaign_id = event.tenant_id, event.campaign_id
        if not await self._store.finish_attempt(tenant_id, campaign_id, event.attempt_id):
            return  # already closed (redelivered event, or closed as lost before the dialer reported)
        contact = await self._store.get_contact(tenant_id, campaign_id, event.contact_id)
        campaign = await self._store.get_campaign(tenant_id, campaign_id)
        if contact is None or campaign is None:
            return
        completed = event.type == events_pb2.CALL_EVENT_TYPE_COMPLETED
        contact.status = "completed" if completed else f"failed: {event.reason or 'unknown'}"
        if completed and event.reason:
            contact.status = f"completed: {event.reason}"
        retry = (not completed and event.reason in RETRYABLE and contact.attempts < max(campaign.max_attempts, 1))
        if retry:
            contact.status = f"retry: {event.reason}"
        await self._store.put_contacts(tenant_id, campaign_id, [contact])
        if retry:
            await self._store.enqueue(tenant_id, campaign_id, contact.contact_id,
                                      time.time() + max(campaign.retry_delay_seconds, 1))
        log.info("attempt finished", extra={"status": contact.status})
