"""Campaign lifecycle: import, start (pre-render static prompts), pause, complete."""

from __future__ import annotations

import logging
import time
import uuid

from obzvon.admission import PURPOSES, consent_of, now_utc
from obzvon.audio import audio_key
from obzvon.bus import Producer
from obzvon.compliance import Purpose, Rule, screen_contact
from obzvon.script import NOT_SURE, OPT_OUT_CONFIRMATION, disclosure_text, node_text, spoken, variables_in
from obzvon.topics import CALL_EVENTS, TTS_REQUESTS
from obzvon.v1 import campaigns_pb2, events_pb2

from obzvon_scheduler.admission import Admission
from obzvon_scheduler.store import Store

log = logging.getLogger(__name__)


def campaign_id_of(campaign: campaigns_pb2.Campaign) -> str:
    return campaign.name.removeprefix("campaigns/")


class CampaignControl:
    def __init__(self, store: Store, producer: Producer, admission: Admission) -> None:
        self._store = store
        self._producer = producer
        self._admission = admission

    async def import_contacts(
        self, tenant_id: str, campaign: campaigns_pb2.Campaign, rows: list[tuple[int, campaigns_pb2.Contact]]
    ) -> campaigns_pb2.ImportContactsResponse:
        """Stores the contacts; those a rule holds back (DNC, no consent) are kept with a status naming
        the rule, reported back by row, and counted in reports, never queued."""
        cid = campaign_id_of(campaign)
        response = campaigns_pb2.ImportContactsResponse()
        now = time.time()
        queued: list[str] = []
        for row, contact in rows:
            decision = await screen_contact(
                tenant=tenant_id,
                campaign=f"{tenant_id}/{cid}",
                number=contact.phone_number,
                purpose=PURPOSES.get(campaign.purpose, Purpose.ADVERTISING),
                consent=consent_of(contact.consent),
                dnc=self._admission.dnc,
                audit=self._admission.audit,
                now=now_utc(),
                contact_key=contact.debtor_key or contact.phone_number,
            )
            if decision.allowed:
                queued.append(contact.contact_id)
                response.imported += 1
                continue
            contact.status = decision.status
            field = "consent" if decision.rule == Rule.NO_CONSENT else "phone_number"
            response.rejected.append(
                campaigns_pb2.RejectedContact(
                    row=row, field=f"contacts[{row}].{field}", reason=f"{decision.status} ({decision.detail})"
                )
            )
            await self._producer.send(
                CALL_EVENTS,
                contact.contact_id,
                events_pb2.CallEvent(
                    event_id=uuid.uuid4().hex,
                    tenant_id=tenant_id,
                    campaign_id=cid,
                    contact_id=contact.contact_id,
                    type=events_pb2.CALL_EVENT_TYPE_BLOCKED,
                    reason=decision.status,
                    phone_number=contact.phone_number,
                ),
            )
        await self._store.put_contacts(tenant_id, cid, [c for _, c in rows])
        for contact_id in queued:
            await self._store.enqueue(tenant_id, cid, contact_id, now)
        return response

    async def start(self, tenant_id: str, campaign: campaigns_pb2.Campaign) -> campaigns_pb2.Campaign:
        cid = campaign_id_of(campaign)
        tenant = await self._store.get_tenant(tenant_id)
        assert tenant is not None
        await self.prerender_static_prompts(campaign, tenant.display_name)
        campaign.state = campaigns_pb2.CAMPAIGN_STATE_RUNNING
        campaign.state_reason = ""
        await self._store.put_campaign(tenant_id, cid, campaign)
        await self._store.set_running(tenant_id, cid, True)
        log.info("campaign started")
        return campaign

    async def pause(self, tenant_id: str, campaign: campaigns_pb2.Campaign, reason: str) -> campaigns_pb2.Campaign:
        cid = campaign_id_of(campaign)
        campaign.state = campaigns_pb2.CAMPAIGN_STATE_PAUSED
        campaign.state_reason = reason
        await self._store.put_campaign(tenant_id, cid, campaign)
        await self._store.set_running(tenant_id, cid, False)
        log.info("campaign paused", extra={"reason": reason})
        return campaign

    async def complete(self, tenant_id: str, campaign: campaigns_pb2.Campaign) -> None:
        campaign.state = campaigns_pb2.CAMPAIGN_STATE_COMPLETED
        campaign.state_reason = "every contact has a final status"
        await self._store.put_campaign(tenant_id, campaign_id_of(campaign), campaign)
        await self._store.set_running(tenant_id, campaign_id_of(campaign), False)
        log.info("campaign completed")

    async def prerender_static_prompts(self, campaign: campaigns_pb2.Campaign, tenant_display_name: str) -> None:
        """Asks tts for every prompt without contact variables now, so no callee waits for rendering."""
        texts = [
            disclosure_text(campaign.language, tenant_display_name),
            spoken(OPT_OUT_CONFIRMATION, campaign.language),
        ]
        if any(n.ask.confirm_below for n in campaign.script.nodes.values()):
            texts.append(spoken(NOT_SURE, campaign.language))
        texts += [t for t in (node_text(n) for n in campaign.script.nodes.values()) if t and not variables_in(t)]
        for text in dict.fromkeys(texts):
            key = audio_key(text, campaign.voice, campaign.language)
            await self._producer.send(
                TTS_REQUESTS,
                key,
                events_pb2.TtsRequest(audio_key=key, text=text, voice=campaign.voice, language=campaign.language),
            )
