"""Who is called when: walks running campaigns, admits due contacts, publishes DialRequests.

Each tick, per running campaign: close attempts whose deadline passed (dialer lost), take as many
due contacts as the campaign has free call slots, check each against the admission rules, and
publish a DialRequest for the admitted. A contact a rule holds back gets a status naming the rule.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid

from google.protobuf.timestamp_pb2 import Timestamp
from obzvon.bus import Producer
from obzvon.log import log_context
from obzvon.topics import CALL_EVENTS, DIAL_REQUESTS
from obzvon.v1 import campaigns_pb2, events_pb2

from obzvon_scheduler.admission import Admission
from obzvon_scheduler.campaigns import CampaignControl, campaign_id_of
from obzvon_scheduler.settings import SchedulerSettings
from obzvon_scheduler.store import Store

log = logging.getLogger(__name__)


def attempt_id_for(tenant_id: str, campaign_id: str, contact_id: str, attempt_number: int) -> str:
    """Deterministic, so a scheduler that crashes after publishing republishes the same attempt,
    which the dialer's claim then drops."""
    digest = hashlib.sha256(f"{tenant_id}/{campaign_id}/{contact_id}/{attempt_number}".encode()).hexdigest()
    return f"att-{digest[:24]}"


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
                    await self._dispatch(tenant_id, campaign, contact_id, now)
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
        attempt_id = attempt_id_for(tenant_id, campaign_id, contact_id, attempt_number)
        not_after = now + self._settings.dial_window_s
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
            trunk_uri=campaign.trunk_uri.replace("{number}", contact.phone_number.lstrip("+")),
            tenant_display_name=tenant.display_name,
            compliance_profile=campaign.compliance_profile,
            debtor_key=contact.debtor_key or contact.phone_number,
            purpose=campaign.purpose,
            registered_caller_ids=list(tenant.caller_ids),
            calling_hours=campaign.calling_hours,
            consent=contact.consent,
            expected_duration_seconds=int(self._settings.expected_call_s),
        )
        with log_context(attempt_id=attempt_id):
            decision = await self._admission.decide(request)
            if not decision.allowed:
                await self._hold_back(tenant_id, campaign, contact, decision.status, decision.retry_at)
                return
            contact.attempts = attempt_number
            contact.status = "dialing"
            await self._store.put_contacts(tenant_id, campaign_id, [contact])
            await self._store.add_in_flight(
                tenant_id, campaign_id, attempt_id, not_after + self._settings.max_call_s, contact_id, attempt_number
            )
            await self._producer.send(DIAL_REQUESTS, attempt_id, request)
            log.info("dial request published", extra={"attempt_number": attempt_number})

    async def _hold_back(
        self,
        tenant_id: str,
        campaign: campaigns_pb2.Campaign,
        contact: campaigns_pb2.Contact,
        status: str,
        retry_at: float | None,
    ) -> None:
        campaign_id = campaign_id_of(campaign)
        contact.status = status
        await self._store.put_contacts(tenant_id, campaign_id, [contact])
        if retry_at is not None:
            await self._store.enqueue(tenant_id, campaign_id, contact.contact_id, retry_at)
            return
        # Final: the contact will not be called by this campaign; reports count it by rule.
        await self._producer.send(
            CALL_EVENTS,
            contact.contact_id,
            events_pb2.CallEvent(
                event_id=uuid.uuid4().hex,
                tenant_id=tenant_id,
                campaign_id=campaign_id,
                contact_id=contact.contact_id,
                type=events_pb2.CALL_EVENT_TYPE_BLOCKED,
                reason=status,
                time=timestamp(time.time()),
                phone_number=contact.phone_number,
            ),
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
                    reason="dialer lost",
                    time=timestamp(now),
                    sequence=1_000_000,
                ),
            )
            log.warning("attempt closed: dialer lost", extra={"attempt_id": attempt_id})
