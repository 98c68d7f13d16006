"""Campaign lifecycle: import, start (pre-render static prompts), pause, complete."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC

from obzvon import keys
from obzvon.admission import PURPOSES, consent_of, now_utc
from obzvon.audio import audio_key
from obzvon.bus import Producer
from obzvon.compliance import Purpose, Rule, screen_contact
from obzvon.script import NOT_SURE, OPT_OUT_CONFIRMATION, disclosure_text, node_text, spoken, variables_in
from obzvon.topics import CALL_EVENTS, TTS_REQUESTS
from obzvon.v1 import campaigns_pb2, events_pb2

from obzvon_scheduler import metrics
from obzvon_scheduler.admission import Admission
from obzvon_scheduler.imports import ContactUpload
from obzvon_scheduler.store import Store, as_bytes

log = logging.getLogger(__name__)
# Rejected rows listed in an ImportContactsResponse; the rest are counted (rejected_count), so a
# million rows on the DNC list still give a response far under the gRPC message limit.
MAX_REJECTED_LISTED = 1000


def campaign_id_of(campaign: campaigns_pb2.Campaign) -> str:
    return campaign.name.removeprefix("campaigns/")


class SpamPauseHolds(Exception):
    """StartCampaign refused: the spam-risk pause is not acknowledged, or its cooldown not over."""


def check_spam_pause(pause: campaigns_pb2.SpamPause, acknowledged: bool, now: float) -> None:
    ends = pause.cooldown_end_time.ToDatetime(tzinfo=UTC)
    ends_text = ends.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not acknowledged:
        raise SpamPauseHolds(
            f"the spam-risk monitor paused this campaign ({pause.reason}); starting it again needs "
            f"acknowledge_spam_pause, and not before the cooldown ends at {ends_text}"
        )
    if now < ends.timestamp():
        raise SpamPauseHolds(f"the spam-risk pause's cooldown ends at {ends_text}: start the campaign after that")


def blocked_event(
    tenant_id: str,
    campaign_id: str,
    contact: campaigns_pb2.Contact,
    *,
    rule: str,
    status: str,
    at: float | None = None,
) -> events_pb2.CallEvent:
    """The event of a contact a rule keeps from this campaign for good (at import or when due); reports
    count it by rule."""
    event = events_pb2.CallEvent(
        event_id=uuid.uuid4().hex,
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        contact_id=contact.contact_id,
        type=events_pb2.CALL_EVENT_TYPE_BLOCKED,
        outcome=events_pb2.OutcomeDetail(outcome=events_pb2.CALL_OUTCOME_BLOCKED, rule=rule),
        reason=status,
        phone_number=contact.phone_number,
    )
    if at is not None:
        event.time.FromNanoseconds(int(at * 1e9))
    return event


class CampaignControl:
    def __init__(self, store: Store, producer: Producer, admission: Admission) -> None:
        self._store = store
        self._producer = producer
        self._admission = admission

    async def import_contacts(
        self, tenant_id: str, campaign: campaigns_pb2.Campaign, upload: ContactUpload, chunk_rows: int
    ) -> campaigns_pb2.ImportContactsResponse:
        """Stores the checked rows of an upload a chunk at a time; those a rule holds back (DNC, no
        consent) are kept with a status naming the rule, reported back by row (the first
        MAX_REJECTED_LISTED of them; rejected_count has all), and counted in reports, never queued."""
        cid = campaign_id_of(campaign)
        response = campaigns_pb2.ImportContactsResponse()
        now = time.time()
        async for rows in upload.chunks(chunk_rows):
            queued: list[str] = []
            for staged in rows:
                contact = staged.contact
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
                response.rejected_count += 1
                if len(response.rejected) < MAX_REJECTED_LISTED:
                    response.rejected.append(
                        campaigns_pb2.RejectedContact(
                            row=staged.row,
                            field=f"contacts[{staged.row}].{field}",
                            reason=f"{decision.status} ({decision.detail})",
                        )
                    )
                await self._producer.send(
                    CALL_EVENTS,
                    contact.contact_id,
                    blocked_event(
                        tenant_id,
                        cid,
                        contact,
                        rule=decision.rule.value if decision.rule else "",
                        status=decision.status,
                    ),
                )
            await self._store.put_contacts(tenant_id, cid, [r.contact for r in rows])
            for contact_id in queued:
                await self._store.enqueue(tenant_id, cid, contact_id, now)
        return response

    async def start(
        self, tenant_id: str, campaign: campaigns_pb2.Campaign, *, acknowledge_spam_pause: bool = False
    ) -> campaigns_pb2.Campaign:
        """Raises SpamPauseHolds while a spam-risk pause is not acknowledged or its cooldown not over."""
        cid = campaign_id_of(campaign)
        if campaign.HasField("spam_pause"):
            check_spam_pause(campaign.spam_pause, acknowledge_spam_pause, time.time())
        # A campaign the tenant-wide pause did not catch (e.g. created since) waits out its cooldown too.
        raw = await self._store.redis.get(keys.tenant_spam_pause(tenant_id))
        if raw:
            tenant_pause = campaigns_pb2.SpamPause.FromString(as_bytes(raw))
            check_spam_pause(tenant_pause, acknowledge_spam_pause, time.time())
        tenant = await self._store.get_tenant(tenant_id)
        assert tenant is not None
        await self.prerender_static_prompts(campaign, tenant.display_name)
        if campaign.HasField("spam_pause"):
            log.warning("campaign restarted after a spam-risk pause", extra={"reason": campaign.spam_pause.reason})
            campaign.ClearField("spam_pause")
            # The tenant has looked into it: the monitor judges the calls from now on afresh.
            await self._store.redis.delete(keys.spam_window(tenant_id, cid))
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

    async def pause_for_spam(
        self, tenant_id: str, campaign: campaigns_pb2.Campaign, reason: str, cooldown_s: float
    ) -> campaigns_pb2.Campaign:
        """The spam-risk monitor's pause: it sticks until acknowledged and its cooldown is over."""
        now = time.time()
        campaign.spam_pause.reason = reason
        campaign.spam_pause.pause_time.FromNanoseconds(int(now * 1e9))
        campaign.spam_pause.cooldown_end_time.FromNanoseconds(int((now + cooldown_s) * 1e9))
        paused = await self.pause(tenant_id, campaign, reason)
        metrics.SPAM_PAUSES.inc()
        return paused

    async def pause_tenant_for_spam(self, tenant_id: str, reason: str, cooldown_s: float) -> int:
        """Pauses every running campaign of the tenant and holds new starts until the cooldown ends;
        how many campaigns were paused."""
        now = time.time()
        pause = campaigns_pb2.SpamPause(reason=reason)
        pause.pause_time.FromNanoseconds(int(now * 1e9))
        pause.cooldown_end_time.FromNanoseconds(int((now + cooldown_s) * 1e9))
        await self._store.redis.set(
            keys.tenant_spam_pause(tenant_id), pause.SerializeToString(), px=max(int(cooldown_s * 1000), 1)
        )
        paused = 0
        for owner, campaign_id in await self._store.running():
            campaign = await self._store.get_campaign(owner, campaign_id) if owner == tenant_id else None
            if campaign is not None and campaign.state == campaigns_pb2.CAMPAIGN_STATE_RUNNING:
                await self.pause_for_spam(tenant_id, campaign, reason, cooldown_s)
                paused += 1
        return paused

    async def complete(self, tenant_id: str, campaign: campaigns_pb2.Campaign) -> None:
        campaign.state = campaigns_pb2.CAMPAIGN_STATE_COMPLETED
        campaign.state_reason = "every contact has a final status"
        await self._store.put_campaign(tenant_id, campaign_id_of(campaign), campaign)
        await self._store.set_running(tenant_id, campaign_id_of(campaign), False)
        log.info("campaign completed")

    async def prerender_static_prompts(self, campaign: campaigns_pb2.Campaign, tenant_display_name: str) -> None:
        """Asks tts for every prompt without contact variables now, so no callee waits for rendering."""
        texts = [
            disclosure_text(
                campaign.language,
                tenant_display_name,
                callback_number=campaign.callback_number,
                recorded=campaign.recording.enabled,
            ),
            spoken(OPT_OUT_CONFIRMATION, campaign.language),
        ]
        if any(n.ask.confirm_below for n in campaign.script.nodes.values()):
            texts.append(spoken(NOT_SURE, campaign.language))
        texts += [t for t in (node_text(n) for n in campaign.script.nodes.values()) if t and not variables_in(t)]
        # Sent together, so the producer batches them: a script at its node limit starts in well under
        # a second rather than one broker round trip per prompt.
        await asyncio.gather(*(self._request_render(text, campaign) for text in dict.fromkeys(texts)))

    async def _request_render(self, text: str, campaign: campaigns_pb2.Campaign) -> None:
        key = audio_key(text, campaign.voice, campaign.language)
        await self._producer.send(
            TTS_REQUESTS,
            key,
            events_pb2.TtsRequest(audio_key=key, text=text, voice=campaign.voice, language=campaign.language),
        )
