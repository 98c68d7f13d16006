"""Consumes call.events: final outcomes close attempts, set contact statuses and apply the retry policy."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC

from obzvon import keys
from obzvon.bus import Consumer
from obzvon.compliance import load_profile
from obzvon.log import log_context
from obzvon.outcomes import Retry, describe, policy, retry_of
from obzvon.v1 import campaigns_pb2, events_pb2

from obzvon_scheduler import abandonment
from obzvon_scheduler.abandonment import AbandonmentRule
from obzvon_scheduler.campaigns import CampaignControl
from obzvon_scheduler.settings import SchedulerSettings
from obzvon_scheduler.spam import Scope, SpamThresholds, assess, classify
from obzvon_scheduler.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """What a final event does to its contact."""

    retry: Retry  # FINAL also when a retryable outcome used the campaign's last attempt
    status: str  # the contact's status, for people


def decide(event: events_pb2.CallEvent, attempts: int, max_attempts: int) -> Verdict:
    """The retry policy (obzvon.outcomes) applied to a contact that has had `attempts` attempts."""
    retry = retry_of(event.outcome)
    if retry is Retry.LATER and attempts >= max(max_attempts, 1):
        retry = Retry.FINAL
    return Verdict(retry, contact_status(event, retry))


def contact_status(event: events_pb2.CallEvent, retry: Retry) -> str:
    """The one place a contact's status is worded from an outcome: "retry: busy", "blocked: DNC"..."""
    text = describe(event.outcome, event.sip_code)
    if retry is Retry.REQUEUE:
        return f"queued: {text}"
    if retry is Retry.LATER:
        return f"retry: {text}"
    if event.outcome.outcome == events_pb2.CALL_OUTCOME_BLOCKED:
        return text
    if event.type == events_pb2.CALL_EVENT_TYPE_COMPLETED:
        return "completed" if event.outcome.outcome == events_pb2.CALL_OUTCOME_COMPLETED else f"completed: {text}"
    return f"failed: {text}"


def retry_delay_s(campaign: campaigns_pb2.Campaign, outcome: events_pb2.CallOutcome.ValueType) -> float:
    """Seconds before the next attempt: the campaign's delay, never under the profile's minimum after
    the callee's phone rang (the campaign's own value was checked at creation, but a profile may have
    been tightened since)."""
    delay = max(campaign.retry_delay_seconds, 1)
    if policy(outcome).callee_rang:
        delay = max(delay, load_profile(campaign.compliance_profile or "default").min_retry_delay_seconds)
    return float(delay)


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
                        await self.watch_abandonment(event)
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
        verdict = decide(event, contact.attempts, campaign.max_attempts)
        contact.status = verdict.status
        if verdict.retry is Retry.REQUEUE:
            # Never dialed: back to the queue for when the campaign runs again, the attempt not counted.
            contact.attempts = max(contact.attempts - 1, 0)
            await self._store.put_contacts(tenant_id, campaign_id, [contact])
            await self._store.enqueue(tenant_id, campaign_id, contact.contact_id, time.time())
            await self._store.finish_attempt(tenant_id, campaign_id, event.attempt_id)
            log.info("attempt given back", extra={"status": contact.status})
            return
        await self._store.put_contacts(tenant_id, campaign_id, [contact])
        if verdict.retry is Retry.LATER:
            delay_s = retry_delay_s(campaign, event.outcome.outcome)
            await self._store.enqueue(tenant_id, campaign_id, contact.contact_id, time.time() + delay_s)
        # Out of flight only now: the dispatcher must never see a campaign with nothing in flight and
        # nothing queued while a retry is still being decided (it would complete the campaign).
        await self._store.finish_attempt(tenant_id, campaign_id, event.attempt_id)
        log.info("attempt finished", extra={"status": contact.status})

    async def watch_spam_risk(self, event: events_pb2.CallEvent) -> None:
        answered_at = await self._store.redis.get(keys.answered_at(event.attempt_id))
        if answered_at is None:
            return  # not an answered call
        talk_s = event.time.ToNanoseconds() / 1e9 - float(answered_at)
        verdict = classify(event.outcome.outcome, talk_s, self._spam)
        reason = await self._judge(keys.spam_window(event.tenant_id, event.campaign_id), verdict, Scope.CAMPAIGN)
        if reason is not None:
            campaign = await self._store.get_campaign(event.tenant_id, event.campaign_id)
            if campaign is not None and campaign.state == campaigns_pb2.CAMPAIGN_STATE_RUNNING:
                await self._pause_for_spam(event.tenant_id, campaign, reason)
        # The tenant's answered calls over all its campaigns: a list split into small campaigns is one list.
        tenant_window = keys.tenant_spam_window(event.tenant_id)
        reason = await self._judge(tenant_window, verdict, Scope.TENANT)
        if reason is None:
            return
        paused = await self._control.pause_tenant_for_spam(
            event.tenant_id, reason, self._settings.spam_pause_cooldown_s
        )
        # Judged afresh from here: the calls that made this verdict must not pause the next restart at once.
        await self._store.redis.delete(tenant_window)
        log.warning("tenant's campaigns paused for spam risk", extra={"reason": reason, "campaigns": paused})

    async def watch_abandonment(self, event: events_pb2.CallEvent) -> None:
        """Counts the answered call as abandoned or not; past the profile's share the campaign pauses."""
        if await self._store.redis.get(keys.answered_at(event.attempt_id)) is None:
            return  # not an answered call
        if not abandonment.counts_toward_rate(event):
            return
        if not await self._store.redis.set(keys.seen_event("abandonment", event.attempt_id), 1, nx=True, ex=172800):
            return  # a redelivered outcome: counted once
        campaign = await self._store.get_campaign(event.tenant_id, event.campaign_id)
        if campaign is None:
            return
        count = await abandonment.record(
            self._store.redis,
            event.tenant_id,
            event.campaign_id,
            abandonment.is_abandoned(event),
            event.time.ToDatetime(tzinfo=UTC),
        )
        limit = load_profile(campaign.compliance_profile or "default").max_abandonment_rate
        if limit is None or campaign.state != campaigns_pb2.CAMPAIGN_STATE_RUNNING:
            return  # measured, but this profile sets no limit (or the campaign is not calling)
        rule = AbandonmentRule(max_share=limit, min_answered=self._settings.abandonment_min_answered)
        reason = abandonment.assess(count, rule)
        if reason is not None:
            await self._control.pause(event.tenant_id, campaign, reason)
            log.warning("campaign paused for abandoned calls", extra={"reason": reason})

    async def _judge(self, window_key: str, verdict: str, scope: Scope) -> str | None:
        async with self._store.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(window_key, verdict)
            pipe.ltrim(window_key, 0, self._spam.window - 1)
            pipe.lrange(window_key, 0, -1)
            *_, latest = await pipe.execute()
        return assess([v.decode() if isinstance(v, bytes) else v for v in latest], self._spam, scope)

    async def _pause_for_spam(self, tenant_id: str, campaign: campaigns_pb2.Campaign, reason: str) -> None:
        with log_context(campaign_id=campaign.name.removeprefix("campaigns/")):
            await self._control.pause_for_spam(tenant_id, campaign, reason, self._settings.spam_pause_cooldown_s)
            log.warning("campaign paused for spam risk", extra={"reason": reason})
