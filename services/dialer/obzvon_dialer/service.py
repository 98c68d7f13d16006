"""Consumes dial.requests: claims each attempt, places it, and applies back-pressure at capacity.

A request is committed once its attempt is claimed in Redis; the claim, not the offset, is what
keeps a redelivered request from ringing a phone a second time.
"""

from __future__ import annotations

import asyncio
import logging

from obzvon import keys
from obzvon.bus import Consumer, Envelope, Producer
from obzvon.compliance import Outcome, record_outcome
from obzvon.log import log_context
from obzvon.v1 import events_pb2
from redis.asyncio import Redis

from obzvon_dialer import metrics
from obzvon_dialer.call import DialerContext, Refusal, ended, place
from obzvon_dialer.claims import Claims
from obzvon_dialer.events import AttemptEvents

log = logging.getLogger(__name__)


class RunningCampaigns:
    """The scheduler's set of running campaigns (obzvon.keys.running_campaigns), as the dialer reads it."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def is_running(self, tenant_id: str, campaign_id: str) -> bool:
        member = keys.running_member(tenant_id, campaign_id)
        return bool(await self._redis.sismember(keys.running_campaigns(), member))  # type: ignore[misc]


class DialerService:
    def __init__(
        self,
        ctx: DialerContext,
        consumer: Consumer[events_pb2.DialRequest],
        producer: Producer,
        claims: Claims,
        running: RunningCampaigns,
    ) -> None:
        self._ctx = ctx
        self._consumer = consumer
        self._producer = producer
        self._claims = claims
        self._running = running
        self._calls: set[asyncio.Task[None]] = set()
        self._paused = False
        # Read at each scrape from the calls held, so the gauges cannot drift from them.
        metrics.ACTIVE_CALLS.set_function(lambda: len(self._calls))
        metrics.FREE_CALL_SLOTS.set_function(lambda: max(self._ctx.settings.max_calls - len(self._calls), 0))

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._apply_back_pressure()
            free = self._ctx.settings.max_calls - len(self._calls)
            if free <= 0:
                await asyncio.sleep(0.05)
                continue
            # Never more than the free call slots: the rest stays in Kafka, not in this process.
            for env in await self._consumer.getmany(timeout_s=0.2, max_records=free):
                await self._take(env)
                await self._consumer.commit(env)
        # Draining: calls in progress finish; nothing new is taken.
        self._consumer.pause()
        if self._calls:
            log.info("waiting for calls in progress", extra={"calls": len(self._calls)})
            await asyncio.gather(*self._calls, return_exceptions=True)

    def _apply_back_pressure(self) -> None:
        full = len(self._calls) >= self._ctx.settings.max_calls
        if full and not self._paused:
            self._consumer.pause()
            self._paused = True
            log.info("at capacity: dial.requests paused", extra={"calls": len(self._calls)})
        elif not full and self._paused:
            self._consumer.resume()
            self._paused = False

    async def _take(self, env: Envelope[events_pb2.DialRequest]) -> None:
        request = env.value
        with log_context(tenant_id=request.tenant_id, campaign_id=request.campaign_id, attempt_id=request.attempt_id):
            if not await self._claims.claim(request.attempt_id):
                log.warning("duplicate dial request dropped: attempt already claimed")
                return
            # Claimed first, so this attempt can never ring later, even if the campaign is resumed and
            # the request redelivered; the scheduler requeues the contact on the event.
            if not await self._running.is_running(request.tenant_id, request.campaign_id):
                log.info("dial request dropped: campaign not running")
                await record_outcome(request.attempt_id, Outcome.NOT_PLACED, store=self._ctx.counters)
                refusal = Refusal.not_dialed(events_pb2.NOT_DIALED_REASON_CAMPAIGN_NOT_RUNNING)
                await AttemptEvents(self._producer, request).emit(
                    events_pb2.CALL_EVENT_TYPE_FAILED, outcome=refusal.detail, reason=refusal.text
                )
                return
            task = asyncio.create_task(self._run_call(request))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _run_call(self, request: events_pb2.DialRequest) -> None:
        events = AttemptEvents(self._producer, request)
        try:
            await place(self._ctx, request, events)
        except Exception as e:
            log.exception("attempt crashed")
            error = ended(events_pb2.CALL_OUTCOME_PROGRAM_ERROR, error_type=type(e).__name__)
            await events.emit(events_pb2.CALL_EVENT_TYPE_FAILED, **error)
