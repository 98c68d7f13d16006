"""Consumes call.events: final outcomes close attempts, set contact statuses and apply the retry policy."""

from __future__ import annotations

import asyncio
import logging
import time

from obzvon import keys
from obzvon.bus import Consumer
from obzvon.log import log_context
from obzvon.v1 import campaigns_pb2, events_pb2

from obzvon_scheduler.campaigns import CampaignControl
from obzvon_scheduler.settings import SchedulerSettings
from obzvon_scheduler.spam import SpamThresholds, assess, classify
from obzvon_scheduler.store import Store

log = logging.getLogger(__name__)

# Outcomes worth another attempt later; anything else (answered, bad number, opted out) is final.
RETRYABLE = {"busy", "no answer", "dialer lost", "trunk unavailable"}


class OutcomeConsumer:
    def __init__(
        self,
        store: Store,
        consumer: Consumer[events_pb2.CallEvent],
        settings: SchedulerSettings,
        control: CampaignControl,
    ) -> None:
        self._store = store
        self._consumer = consumer
        self._settings = settings
        self._control = control
        self._spam = SpamThresholds(
            window=settings.spam_window,
            min_answered=settings.spam_min_answered,
            short_hangup_s=settings.spam_short_hangup_s,
            max_short_share=settings.spam_max_short_share,
            max_opt_out_share=settings.spam_max_opt_out_share,
        )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for env in await self._consumer.getmany(timeout_s=0.5):
                event = env.value
                with log_context(tenant_id=event.tenant_id, campaign_id=event.campaign_id, attempt_id=event.attempt_id):
                    if event.type == events_pb2.CALL_EVENT_TYPE_ANSWERED:
                        await self._store.redis.set(
                            keys.answered_at(event.attempt_id), event.time.ToNanoseconds() / 1e9, ex=86400
                        )
                    elif event.type == events_pb2.CALL_EVENT_TYPE_COMPLETED:
                        await self.watch_spam_risk(event)
                    if event.type in (events_pb2.CALL_EVENT_TYPE_COMPLETED, events_pb2.CALL_EVENT_TYPE_FAILED):
                        await self.on_final(event)
                await self._consumer.commit(env)

    async def on_final(self, event: events_pb2.CallEvent) -> None:
        tenant_id, campaign_id = event.tenant_id, event.campaign_id
        if event.attempt_id not in await self._store.in_flight(tenant_id, campaign_id):
            return  # already closed (redelivered event, or closed as lost before the dialer reported)
        contact = await self._store.get_contact(tenant_id, campaign_id, event.contact_id)
        campaign = await self._store.get_campaign(tenant_id, campaign_id)
        if contact is None or campaign is None:
            await self._store.finish_attempt(tenant_id, campaign_id, event.attempt_id)
            return
        completed = event.type == events_pb2.CALL_EVENT_TYPE_COMPLETED
        contact.status = "completed" if completed else f"failed: {event.reason or 'unknown'}"
        if completed and event.reason:
            contact.status = f"completed: {event.reason}"
        retry = not completed and event.reason in RETRYABLE and contact.attempts < max(campaign.max_attempts, 1)
        if retry:
            contact.status = f"retry: {event.reason}"
        await self._store.put_contacts(tenant_id, campaign_id, [contact])
        if retry:
            await self._store.enqueue(
                tenant_id, campaign_id, contact.contact_id, time.time() + max(campaign.retry_delay_seconds, 1)
            )
        # Out of flight only now: the dispatcher must never see a campaign with nothing in flight and
        # nothing queued while a retry is still being decided (it would complete the campaign).
        await self._store.finish_attempt(tenant_id, campaign_id, event.attempt_id)
        log.info("attempt finished", extra={"status": contact.status})

    async def watch_spam_risk(self, event: events_pb2.CallEvent) -> None:
        answered_at = await self._store.redis.get(keys.answered_at(event.attempt_id))
        if answered_at is None:
            return  # not an answered call
        talk_s = event.time.ToNanoseconds() / 1e9 - float(answered_at)
        verdict = classify(event.reason, talk_s, self._spam)
        window_key = keys.spam_window(event.tenant_id, event.campaign_id)
        async with self._store.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(window_key, verdict)
            pipe.ltrim(window_key, 0, self._spam.window - 1)
            pipe.lrange(window_key, 0, -1)
            *_, latest = await pipe.execute()
        reason = assess([v.decode() if isinstance(v, bytes) else v for v in latest], self._spam)
        if reason is None:
            return
        campaign = await self._store.get_campaign(event.tenant_id, event.campaign_id)
        if campaign is not None and campaign.state == campaigns_pb2.CAMPAIGN_STATE_RUNNING:
            await self._control.pause(event.tenant_id, campaign, reason)
            log.warning("campaign paused for spam risk", extra={"reason": reason})
