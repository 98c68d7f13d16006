"""The public gRPC API: tenants, campaigns, contacts. Every read and write is scoped to the caller's tenant."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc
from obzvon import keys
from obzvon.auth import Authenticator, new_api_key, store_api_key
from obzvon.compliance import AuditLog
from obzvon.errors import FieldViolation, abort_invalid
from obzvon.log import log_context
from obzvon.script import validate_script
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, tenants_pb2, tenants_pb2_grpc

from obzvon_scheduler import validation
from obzvon_scheduler.campaigns import CampaignControl
from obzvon_scheduler.settings import SchedulerSettings
from obzvon_scheduler.store import Store, as_bytes

log = logging.getLogger(__name__)
Context: TypeAlias = grpc.aio.ServicerContext[object, object]
MAX_PAGE = 500


def campaign_id_of(name: str) -> str:
    return name.removeprefix("campaigns/")


class TenantApi(tenants_pb2_grpc.TenantServiceServicer):
    def __init__(self, store: Store, auth: Authenticator) -> None:
        self._store = store
        self._auth = auth

    async def CreateTenant(
        self, request: tenants_pb2.CreateTenantRequest, context: Context
    ) -> tenants_pb2.CreateTenantResponse:
        await self._auth.admin(context)
        problems = validation.check_tenant(request.tenant_id, request.tenant)
        if problems:
            await abort_invalid(context, problems)
        if await self._store.get_tenant(request.tenant_id) is not None:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"tenants/{request.tenant_id} exists")
        tenant = tenants_pb2.Tenant()
        tenant.CopyFrom(request.tenant)
        tenant.name = f"tenants/{request.tenant_id}"
        tenant.caller_ids[:] = [validation.to_e164(c, "") for c in tenant.caller_ids]
        await self._store.put_tenant(request.tenant_id, tenant)
        api_key = new_api_key(request.tenant_id)
        await store_api_key(self._store.redis, api_key, request.tenant_id)
        log.info("tenant created", extra={"tenant_id": request.tenant_id})
        return tenants_pb2.CreateTenantResponse(tenant=tenant, api_key=api_key)

    async def GetTenant(self, request: tenants_pb2.GetTenantRequest, context: Context) -> tenants_pb2.GetTenantResponse:
        caller = await self._auth.caller(context)
        tenant_id = request.name.removeprefix("tenants/")
        tenant = await self._store.get_tenant(tenant_id)
        if tenant is None or caller not in ("__admin__", tenant_id):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        assert tenant is not None
        return tenants_pb2.GetTenantResponse(tenant=tenant)


class CampaignApi(campaigns_pb2_grpc.CampaignServiceServicer):
    def __init__(
        self, store: Store, auth: Authenticator, control: CampaignControl, settings: SchedulerSettings, audit: AuditLog
    ) -> None:
        self._audit = audit
        self._store = store
        self._auth = auth
        self._control = control
        self._settings = settings

    async def _campaign(self, tenant_id: str, name: str, context: Context) -> campaigns_pb2.Campaign:
        campaign = await self._store.get_campaign(tenant_id, campaign_id_of(name))
        if campaign is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{name or '(empty name)'} not found")
        assert campaign is not None
        return campaign

    async def CreateCampaign(
        self, request: campaigns_pb2.CreateCampaignRequest, context: Context
    ) -> campaigns_pb2.CreateCampaignResponse:
        tenant_id = await self._auth.tenant(context)
        with log_context(tenant_id=tenant_id, campaign_id=request.campaign_id):
            if request.request_id:
                earlier = await self._store.redis.get(keys.create_request(tenant_id, request.request_id))
                if earlier:
                    return campaigns_pb2.CreateCampaignResponse.FromString(as_bytes(earlier))
            tenant = await self._store.get_tenant(tenant_id)
            assert tenant is not None
            problems = validation.check_campaign(request.campaign_id, request.campaign, tenant)
            if problems:
                await abort_invalid(context, problems)
            if await self._store.get_campaign(tenant_id, request.campaign_id) is not None:
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"campaigns/{request.campaign_id} exists")
            campaign = campaigns_pb2.Campaign()
            campaign.CopyFrom(request.campaign)
            campaign.name = f"campaigns/{request.campaign_id}"
            campaign.state = campaigns_pb2.CAMPAIGN_STATE_DRAFT
            campaign.caller_id = validation.to_e164(campaign.caller_id, "")
            campaign.script.version = 1
            campaign.max_concurrent_calls = campaign.max_concurrent_calls or self._settings.default_max_concurrent_calls
            campaign.max_attempts = campaign.max_attempts or 1
            campaign.voice = campaign.voice or f"default:{campaign.language}"
            campaign.create_time.GetCurrentTime()
            await self._store.put_campaign(tenant_id, request.campaign_id, campaign)
            await self._store.add_campaign_to_index(tenant_id, request.campaign_id)
            response = campaigns_pb2.CreateCampaignResponse(campaign=campaign)
            if request.request_id:
                await self._store.redis.set(
                    keys.create_request(tenant_id, request.request_id), response.SerializeToString(), ex=86400
                )
            log.info("campaign created")
            return response

    async def GetCampaign(
        self, request: campaigns_pb2.GetCampaignRequest, context: Context
    ) -> campaigns_pb2.GetCampaignResponse:
        tenant_id = await self._auth.tenant(context)
        return campaigns_pb2.GetCampaignResponse(campaign=await self._campaign(tenant_id, request.name, context))

    async def ListCampaigns(
        self, request: campaigns_pb2.ListCampaignsRequest, context: Context
    ) -> campaigns_pb2.ListCampaignsResponse:
        tenant_id = await self._auth.tenant(context)
        size = min(request.page_size or 50, MAX_PAGE)
        offset = await _page_offset(request.page_token, context)
        ids = await self._store.list_campaign_ids(tenant_id, offset, size + 1)
        out = campaigns_pb2.ListCampaignsResponse()
        for cid in ids[:size]:
            campaign = await self._store.get_campaign(tenant_id, cid)
            if campaign is not None:
                out.campaigns.append(campaign)
        if len(ids) > size:
            out.next_page_token = str(offset + size)
        return out

    async def ImportContacts(
        self, request_iterator: AsyncIterator[campaigns_pb2.ImportContactsRequest], context: Context
    ) -> campaigns_pb2.ImportContactsResponse:
        tenant_id = await self._auth.tenant(context)
        campaign_name = ""
        accepted: list[tuple[int, campaigns_pb2.Contact]] = []
        problems: list[FieldViolation] = []
        campaign: campaigns_pb2.Campaign | None = None
        row = 0
        seen: set[str] = set()
        # The whole upload is checked before anything is stored: a malformed row fails the upload
        # with every bad field named, rather than leaving half a list imported.
        async for chunk in request_iterator:
            if campaign is None:
                campaign_name = chunk.campaign
                if not campaign_name:
                    await abort_invalid(context, [FieldViolation("campaign", "required in the first message")])
                campaign = await self._campaign(tenant_id, campaign_name, context)
            for contact in chunk.contacts:
                row += 1
                normalised, bad = validation.check_contact(contact, row, campaign, self._settings.default_region)
                problems.extend(bad)
                if normalised is not None:
                    if normalised.contact_id in seen:
                        problems.append(
                            FieldViolation(f"contacts[{row}].contact_id", f'duplicate "{normalised.contact_id}"')
                        )
                        continue
                    seen.add(normalised.contact_id)
                    accepted.append((row, normalised))
        if campaign is None:
            await abort_invalid(context, [FieldViolation("campaign", "empty upload")])
        assert campaign is not None
        if problems:
            await abort_invalid(context, problems)
        with log_context(tenant_id=tenant_id, campaign_id=campaign_id_of(campaign_name)):
            response = await self._control.import_contacts(tenant_id, campaign, accepted)
            log.info("contacts imported", extra={"imported": response.imported, "rejected": len(response.rejected)})
            return response

    async def StartCampaign(
        self, request: campaigns_pb2.StartCampaignRequest, context: Context
    ) -> campaigns_pb2.StartCampaignResponse:
        tenant_id = await self._auth.tenant(context)
        campaign = await self._campaign(tenant_id, request.name, context)
        problems = validate_script(campaign.script, "campaign.script")
        if problems:
            await abort_invalid(context, problems)
        if not campaign.compliance_profile:
            await abort_invalid(context, [FieldViolation("campaign.compliance_profile", "required to start")])
        with log_context(tenant_id=tenant_id, campaign_id=campaign_id_of(request.name)):
            campaign = await self._control.start(tenant_id, campaign)
        return campaigns_pb2.StartCampaignResponse(campaign=campaign)

    async def PauseCampaign(
        self, request: campaigns_pb2.PauseCampaignRequest, context: Context
    ) -> campaigns_pb2.PauseCampaignResponse:
        tenant_id = await self._auth.tenant(context)
        campaign = await self._campaign(tenant_id, request.name, context)
        campaign = await self._control.pause(tenant_id, campaign, request.reason or "paused by the tenant")
        return campaigns_pb2.PauseCampaignResponse(campaign=campaign)

    async def ListContacts(
        self, request: campaigns_pb2.ListContactsRequest, context: Context
    ) -> campaigns_pb2.ListContactsResponse:
        tenant_id = await self._auth.tenant(context)
        campaign = await self._campaign(tenant_id, request.campaign, context)
        cid = campaign_id_of(campaign.name)
        size = min(request.page_size or 100, MAX_PAGE)
        offset = await _page_offset(request.page_token, context)
        ids = await self._store.contact_ids(tenant_id, cid)
        out = campaigns_pb2.ListContactsResponse()
        for contact_id in ids[offset : offset + size]:
            contact = await self._store.get_contact(tenant_id, cid, contact_id)
            if contact is not None:
                out.contacts.append(contact)
        if offset + size < len(ids):
            out.next_page_token = str(offset + size)
        return out

    async def ListAdmissionDecisions(
        self, request: campaigns_pb2.ListAdmissionDecisionsRequest, context: Context
    ) -> campaigns_pb2.ListAdmissionDecisionsResponse:
        tenant_id = await self._auth.tenant(context)
        campaign = await self._campaign(tenant_id, request.campaign, context)
        cid = campaign_id_of(campaign.name)
        contact = await self._store.get_contact(tenant_id, cid, request.contact_id)
        if contact is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"contact {request.contact_id!r} not found")
        assert contact is not None
        records = await self._audit.for_contact(
            f"{tenant_id}/{cid}", contact.debtor_key or contact.phone_number, min(request.page_size or 100, MAX_PAGE)
        )
        out = campaigns_pb2.ListAdmissionDecisionsResponse()
        for r in records:
            decision = out.decisions.add(
                phase=r.phase,
                decision=r.decision,
                rule=r.rule or "",
                status=r.status,
                detail=r.detail,
                attempt_id=r.attempt,
                phone_number=r.number,
            )
            decision.time.FromDatetime(r.at)
        return out


async def _page_offset(token: str, context: Context) -> int:
    """Page tokens are offsets; anything else did not come from this API."""
    if not token:
        return 0
    if not token.isdigit():
        await abort_invalid(context, [FieldViolation("page_token", "not a token this API returned")])
    return int(token)
