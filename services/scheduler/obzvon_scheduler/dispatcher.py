"""Who is called when: walks running campaigns, admits due contacts, publishes DialRequests.

Each tick, per running campaign: close attempts whose deadline passed (dialer lost), take as many
due contacts as the campaign has free call slots, check each against the admission rules, and
publish a DialRequest for the admitted. A contact a rule holds back gets a status naming the rule.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from obzvon import keys
from obzvon.bus import Producer
from obzvon.limits import MAX_DIAL_REQUEST_BYTES
from obzvon.log import log_context
from obzvon.outcomes import Retry
from obzvon.topics import CALL_EVENTS, DIAL_REQUESTS
from obzvon.v1 import campaigns_pb2, events_pb2

from obzvon_scheduler.admission import Admission, AdmissionDecision
from obzvon_scheduler.campaigns import CampaignControl, blocked_event, campaign_id_of
from obzvon_scheduler.outcomes import contact_status
from obzvon_scheduler.settings import SchedulerSettings
from obzvon_scheduler.store import Store

log = logging.getLogger(__name__)


def new_attempt_id() -> str:
    """Random, never derived from the contact or its attempt count: those come from the tenant, and a
    re-imported contact would otherwise get an old id whose counter reservation admits it as a replay."""
    return f"att-{uuid.uuid4().hex}"


def dial_trunk(trunk: campaigns_pb2.Trunk) -> campaigns_pb2.Trunk:
    """The campaign's trunk for a DialRequest: structured, and without the password, which Kafka would
    keep in clear for days; the dialer reads it from the campaign record (TrunkCredentials, docs/sip.md)."""
    out = campaigns_pb2.Trunk()
    out.CopyFrom(trunk)
    out.ClearField("password")
    return out


class UndialableContactError(Exception):
    """A stored contact that cannot make a dial request (e.g. stored before the API bounded its fields)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def outcome(self) -> events_pb2.OutcomeDetail:
        # Raised for a dial request over the size limit only.
        return events_pb2.OutcomeDetail(
            outcome=events_pb2.CALL_OUTCOME_NOT_DIALED, not_dialed=events_pb2.NOT_DIALED_REASON_REQUEST_TOO_LARGE
        )


def timestamp(at: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(at * 1e9))
    return ts


class Dispatcher:
    def __init__(
        self,
        store: Store,
        producer: Producer,
        control: CampaignControl,
        admission: Admission,
        settings: SchedulerSettings,
    ) -> None:
        self._store = store
        self._producer = producer
        self._control = control
        self._admission = admission
        self._settings = settings

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick(time.time())
            except Exception:
                log.exception("dispatch tick failed")
            try:
                await asyncio.wait_for(stop.wait(), self._settings.dispatch_interval_s)
            except TimeoutError:
                pass

    async def tick(self, now: float) -> None:
        for tenant_id, campaign_id in await self._store.running():
            with log_context(tenant_id=tenant_id, campaign_id=campaign_id):
                campaign = await self._store.get_campaign(tenant_id, campaign_id)
                if campaign is None or campaign.state != campaigns_pb2.CAMPAIGN_STATE_RUNNING:
                    await self._store.set_running(tenant_id, campaign_id, False)
                    continue
                await self._close_lost_attempts(tenant_id, campaign, now)
                in_flight = await self._store.in_flight(tenant_id, campaign_id)
                free = campaign.max_concurrent_calls - len(in_flight)
                for contact_id in await self._store.pop_due(tenant_id, campaign_id, now, free):
                    # One contact's failure never takes the rest of its batch down with it, nor leaves
                    # the contact unaccounted for while the campaign completes.
                    try:
                        await self._dispatch(tenant_id, campaign, contact_id, now)
                    except UndialableContactError as e:
                        log.warning("contact failed at dispatch", extra={"contact_id": contact_id, "reason": e.reason})
                        await self._guard(self._fail_contact(tenant_id, campaign, contact_id, e.outcome, e.reason))
                    except Exception as e:
                        # Kafka or Redis for a moment, most likely: the contact is tried again, not lost.
                        log.exception("contact dispatch interrupted", extra={"contact_id": contact_id})
                        await self._guard(self._dispatch_interrupted(tenant_id, campaign, contact_id, e, now))
                if not await self._store.in_flight(tenant_id, campaign_id) and not await self._store.queue_length(
                    tenant_id, campaign_id
                ):
                    await self._control.complete(tenant_id, campaign)

    async def _dispatch(self, tenant_id: str, campaign: campaigns_pb2.Campaign, contact_id: str, now: float) -> None:
        campaign_id = campaign_id_of(campaign)
        contact = await self._store.get_contact(tenant_id, campaign_id, contact_id)
        tenant = await self._store.get_tenant(tenant_id)
        if contact is None or tenant is None:
            return
        attempt_number = contact.attempts + 1
        attempt_id = new_attempt_id()
        not_after = now + self._settings.dial_window_s
        deadline = not_after + self._settings.max_call_s
        request = events_pb2.DialRequest(
            attempt_id=attempt_id,
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            contact_id=contact_id,
            phone_number=contact.phone_number,
            caller_id=campaign.caller_id,
            script=campaign.script,
            variables=dict(contact.variables),
            attempt_number=attempt_number,
            not_after=timestamp(not_after),
            language=campaign.language,
            voice=campaign.voice,
            trunk=dial_trunk(campaign.trunk),
            callback_number=campaign.callback_number,
            record=campaign.recording.enabled,
            tenant_display_name=tenant.display_name,
            compliance_profile=campaign.compliance_profile,
            debtor_key=contact.debtor_key or contact.phone_number,
            purpose=campaign.purpose,
            registered_caller_ids=list(tenant.caller_ids),
            calling_hours=campaign.calling_hours,
            consent=contact.consent,
            expected_duration_seconds=int(self._settings.expected_call_s),
        )
        if request.ByteSize() > MAX_DIAL_REQUEST_BYTES:
            raise UndialableContactError(f"dial request of {request.ByteSize()} bytes is over {MAX_DIAL_REQUEST_BYTES}")
        with log_context(attempt_id=attempt_id):
            # In flight before the counters are reserved and the request is published: a crash before
            # publishing leaves an attempt closed as "dialer lost" (slots kept), one after has its only id here.
            await self._store.add_in_flight(tenant_id, campaign_id, attempt_id, deadline, contact_id, attempt_number)
            decision = await self._admission.decide(request)
            if not decision.allowed:
                await self._hold_back(tenant_id, campaign, contact, decision)
                await self._store.finish_attempt(tenant_id, campaign_id, attempt_id)
                return
            contact.attempts = attempt_number
            contact.status = "dialing"
            await self._store.put_contacts(tenant_id, campaign_id, [contact])
            await self._producer.send(DIAL_REQUESTS, attempt_id, request)
            log.info("dial request published", extra={"attempt_number": attempt_number})
        # Errors "in a row": a contact that got through starts counting afresh.
        await self._store.redis.hdel(keys.dispatch_errors(tenant_id, campaign_id), contact_id)  # type: ignore[misc]

    @staticmethod
    async def _guard(handling: Coroutine[Any, Any, None]) -> None:
        """Handling one contact's dispatch error must not stop the rest of the batch either (the store or
        the broker may still be down): logged, and the batch goes on."""
        try:
            await handling
        except Exception:
            log.exception("could not record a contact's dispatch error")

    async def _dispatch_interrupted(
        self, tenant_id: str, campaign: campaigns_pb2.Campaign, contact_id: str, error: Exception, now: float
    ) -> None:
        """A contact whose dispatch a passing error stopped: retried, never lost and never dialled twice.

        With an attempt in flight its request may or may not be in Kafka: the attempt is left to
        `_close_lost_attempts` ("dialer lost", then the retry policy), as for a scheduler that crashed
        there. Without one, nothing was sent: the contact is queued again shortly, until the same
        contact has failed `dispatch_max_errors` times in a row."""
        campaign_id = campaign_id_of(campaign)
        if await self._attempts_of(tenant_id, campaign_id, contact_id):
            log.warning("dispatch in doubt: left to the deadline reconciliation", extra={"contact_id": contact_id})
            return
        reason = f"dispatch error ({type(error).__name__})"
        errors_key = keys.dispatch_errors(tenant_id, campaign_id)
        errors = int(await self._store.redis.hincrby(errors_key, contact_id, 1))  # type: ignore[misc]
        await self._store.redis.expire(errors_key, 86400)
        if errors >= self._settings.dispatch_max_errors:
            failure = events_pb2.OutcomeDetail(
                outcome=events_pb2.CALL_OUTCOME_NOT_DIALED,
                not_dialed=events_pb2.NOT_DIALED_REASON_DISPATCH_FAILED,
                error_type=type(error).__name__,
            )
            await self._fail_contact(tenant_id, campaign, contact_id, failure, reason)
            return
        await self._store.set_contact_status(tenant_id, campaign_id, contact_id, f"retry: {reason}")
        await self._store.enqueue(tenant_id, campaign_id, contact_id, now + self._settings.dispatch_retry_delay_s)

    async def _attempts_of(self, tenant_id: str, campaign_id: str, contact_id: str) -> list[str]:
        """The contact's attempts in flight (the in-flight hash is campaign-wide; at most the campaign's call slots)."""
        return [
            attempt_id
            for attempt_id in await self._store.in_flight(tenant_id, campaign_id)
            if (await self._store.attempt_info(attempt_id)).get("contact_id") == contact_id
        ]

    async def _fail_contact(
        self,
        tenant_id: str,
        campaign: campaigns_pb2.Campaign,
        contact_id: str,
        failure: events_pb2.OutcomeDetail,
        reason: str,
    ) -> None:
        """Marks a contact that could not be dispatched failed, with its reason, in its status and reports.

        An attempt it left in flight never reached Kafka (an undialable contact fails before its request
        is sent): it is finished here (its counter slots stay reserved, as for any attempt whose outcome
        is unknown) so it is not closed later as lost and retried into the same failure."""
        campaign_id = campaign_id_of(campaign)
        for attempt_id in await self._attempts_of(tenant_id, campaign_id, contact_id):
            await self._store.finish_attempt(tenant_id, campaign_id, attempt_id)
        await self._store.redis.hdel(keys.dispatch_errors(tenant_id, campaign_id), contact_id)  # type: ignore[misc]
        event = events_pb2.CallEvent(
            event_id=uuid.uuid4().hex,
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            contact_id=contact_id,
            type=events_pb2.CALL_EVENT_TYPE_FAILED,
            outcome=failure,
            reason=reason,
            time=timestamp(time.time()),
        )
        await self._store.set_contact_status(tenant_id, campaign_id, contact_id, contact_status(event, Retry.FINAL))
        await self._producer.send(CALL_EVENTS, contact_id, event)

    async def _hold_back(
        self,
        tenant_id: str,
        campaign: campaigns_pb2.Campaign,
        contact: campaigns_pb2.Contact,
        decision: AdmissionDecision,
    ) -> None:
        campaign_id = campaign_id_of(campaign)
        status = decision.status
        contact.status = status
        await self._store.put_contacts(tenant_id, campaign_id, [contact])
        if decision.retry_at is not None:
            await self._store.enqueue(tenant_id, campaign_id, contact.contact_id, decision.retry_at)
            return
        # Final: the contact will not be called by this campaign; reports count it by rule.
        await self._producer.send(
            CALL_EVENTS,
            contact.contact_id,
            blocked_event(tenant_id, campaign_id, contact, rule=decision.rule, status=status, at=time.time()),
        )
        log.info("contact held back", extra={"contact_id": contact.contact_id, "status": status})

    async def _close_lost_attempts(self, tenant_id: str, campaign: campaigns_pb2.Campaign, now: float) -> None:
        campaign_id = campaign_id_of(campaign)
        for attempt_id, deadline in (await self._store.in_flight(tenant_id, campaign_id)).items():
            if deadline > now:
                continue
            info = await self._store.attempt_info(attempt_id)
            # Deadline pushed out first, so the same lost attempt is not announced every tick, and
            # the outcome consumer's removal (on the event below) is never undone by this write.
            await self._store.add_in_flight(
                tenant_id,
                campaign_id,
                attempt_id,
                now + 3600,
                info.get("contact_id", ""),
                int(info.get("attempt_number", "1")),
            )
            # The closing event goes through call.events like any other outcome, so the outcome
            # consumer applies the retry policy in one place.
            await self._producer.send(
                CALL_EVENTS,
                attempt_id,
                events_pb2.CallEvent(
                    event_id=f"{attempt_id}:lost",
                    attempt_id=attempt_id,
                    tenant_id=tenant_id,
                    campaign_id=campaign_id,
                    contact_id=info.get("contact_id", ""),
                    type=events_pb2.CALL_EVENT_TYPE_FAILED,
                    outcome=events_pb2.OutcomeDetail(outcome=events_pb2.CALL_OUTCOME_DIALER_LOST),
                    reason="dialer lost",
                    time=timestamp(now),
                    sequence=1_000_000,
                ),
            )
            log.warning("attempt closed: dialer lost", extra={"attempt_id": attempt_id})
