"""The public gRPC API: tenants, campaigns, contacts. Every read and write is scoped to the caller's tenant."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc
from obzvon import keys
from obzvon import script as obzvon_script
from obzvon.auth import (
    ADMIN,
    ApiKeyInfo,
    ApiKeyNotFoundError,
    ApiKeys,
    Authenticator,
    LastApiKeyError,
    TooManyApiKeysError,
)
from obzvon.compliance import AuditLog
from obzvon.errors import MAX_LISTED_VIOLATIONS, FieldViolation, abort_invalid, quota_exceeded_status
from obzvon.log import log_context
from obzvon.recordings import RecordingKey, RecordingStore, contact_prefix, delete_prefix
from obzvon.script import validate_script
from obzvon.sip.trunk import apply_trunk_defaults, check_trunk, without_secrets
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, tenants_pb2, tenants_pb2_grpc
from obzvon.voices import default_voice

from obzvon_scheduler import recordings, validation
from obzvon_scheduler.campaigns import CampaignControl, SpamPauseHolds
from obzvon_scheduler.imports import ContactUpload, StagedRow
from obzvon_scheduler.settings import SchedulerSettings
from obzvon_scheduler.store import Store, as_bytes

log = logging.getLogger(__name__)
Context: TypeAlias = grpc.aio.ServicerContext[object, object]
MAX_PAGE = 500


def campaign_id_of(name: str) -> str:
    return name.removeprefix("campaigns/")


class TenantApi(tenants_pb2_grpc.TenantServiceServicer):
    """Tenants (admin key) and their API keys (the tenant's own key or the admin key)."""

    def __init__(self, store: Store, auth: Authenticator, max_recording_retention_days: int = 365) -> None:
        self._store = store
        self._auth = auth
        self._keys = ApiKeys(store.redis)
        self._max_recording_retention_days = max_recording_retention_days

    async def CreateTenant(
        self, request: tenants_pb2.CreateTenantRequest, context: Context
    ) -> tenants_pb2.CreateTenantResponse:
        await self._auth.admin(context)
        problems = validation.check_tenant(request.tenant_id, request.tenant)
        problems += recordings.check_tenant_retention(request.tenant, self._max_recording_retention_days)
        if problems:
            await abort_invalid(context, problems)
        if await self._store.get_tenant(request.tenant_id) is not None:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"tenants/{request.tenant_id} exists")
        tenant = tenants_pb2.Tenant()
        tenant.CopyFrom(request.tenant)
        tenant.name = f"tenants/{request.tenant_id}"
        tenant.caller_ids[:] = [validation.to_e164(c, "") for c in tenant.caller_ids]
        await self._store.put_tenant(request.tenant_id, tenant)
        issued = await self._keys.create(request.tenant_id)
        log.info("tenant created", extra={"tenant_id": request.tenant_id})
        return tenants_pb2.CreateTenantResponse(tenant=tenant, api_key=issued.secret, key=_api_key(issued.info))

    async def GetTenant(self, request: tenants_pb2.GetTenantRequest, context: Context) -> tenants_pb2.GetTenantResponse:
        caller = await self._auth.caller(context)
        tenant_id = request.name.removeprefix("tenants/")
        tenant = await self._store.get_tenant(tenant_id)
        if tenant is None or caller not in ("__admin__", tenant_id):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        assert tenant is not None
        return tenants_pb2.GetTenantResponse(tenant=tenant)

    async def _key_owner(self, parent: str, context: Context) -> tuple[str, bool]:
        """The tenant whose keys are managed, and whether the caller is the admin.  A tenant manages only
        its own keys (another tenant's are NOT_FOUND, as everywhere); the admin names the tenant."""
        caller = await self._auth.caller(context)
        if caller == ADMIN:
            if not parent:
                required = FieldViolation("parent", "tenants/{tenant_id} is required with the admin key")
                await abort_invalid(context, [required])
            tenant_id = parent.removeprefix("tenants/")
            if not parent.startswith("tenants/") or await self._store.get_tenant(tenant_id) is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"{parent} not found")
            return tenant_id, True
        if parent and parent != f"tenants/{caller}":
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{parent} not found")
        return caller, False

    async def CreateApiKey(
        self, request: tenants_pb2.CreateApiKeyRequest, context: Context
    ) -> tenants_pb2.CreateApiKeyResponse:
        tenant_id, _ = await self._key_owner(request.parent, context)
        try:
            issued = await self._keys.create(tenant_id)
        except TooManyApiKeysError as e:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{e}: revoke one first (RevokeApiKey)")
        log.info("api key created", extra={"tenant_id": tenant_id, "key_id": issued.info.key_id})
        return tenants_pb2.CreateApiKeyResponse(api_key=_api_key(issued.info), secret=issued.secret)

    async def ListApiKeys(
        self, request: tenants_pb2.ListApiKeysRequest, context: Context
    ) -> tenants_pb2.ListApiKeysResponse:
        tenant_id, _ = await self._key_owner(request.parent, context)
        return tenants_pb2.ListApiKeysResponse(api_keys=[_api_key(k) for k in await self._keys.list(tenant_id)])

    async def RevokeApiKey(
        self, request: tenants_pb2.RevokeApiKeyRequest, context: Context
    ) -> tenants_pb2.RevokeApiKeyResponse:
        parent, sep, key_id = request.name.partition("/apiKeys/")
        if not sep or not parent.startswith("tenants/") or not key_id or "/" in key_id:
            await abort_invalid(context, [FieldViolation("name", "tenants/{tenant_id}/apiKeys/{key_id}")])
        tenant_id, is_admin = await self._key_owner(parent, context)
        try:
            # A tenant cannot lock itself out; the admin may revoke every key (e.g. all of them leaked).
            revoked = await self._keys.revoke(tenant_id, key_id, keep_last=not is_admin)
        except ApiKeyNotFoundError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        except LastApiKeyError as e:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{e}: create its replacement first")
        log.info("api key revoked", extra={"tenant_id": tenant_id, "key_id": key_id})
        return tenants_pb2.RevokeApiKeyResponse(api_key=_api_key(revoked))


def _api_key(info: ApiKeyInfo) -> tenants_pb2.ApiKey:
    key = tenants_pb2.ApiKey(name=info.name, key_id=info.key_id)
    key.create_time.FromDatetime(info.create_time)
    return key


class CampaignApi(campaigns_pb2_grpc.CampaignServiceServicer):
    def __init__(
        self,
        store: Store,
        auth: Authenticator,
        control: CampaignControl,
        settings: SchedulerSettings,
        audit: AuditLog,
        recordings: RecordingStore | None = None,
    ) -> None:
        self._recordings = recordings  # None: this scheduler serves no recordings (GetRecording NOT_FOUND)
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
            # Off the event loop: a script at its size limit must not hold up other tenants' calls.
            problems = await asyncio.to_thread(validation.check_campaign, request.campaign_id, request.campaign, tenant)
            max_days = self._settings.max_recording_retention_days
            problems += recordings.check_recording(request.campaign, tenant, max_days)
            if problems:
                await abort_invalid(context, problems)
            if await self._store.get_campaign(tenant_id, request.campaign_id) is not None:
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"campaigns/{request.campaign_id} exists")
            campaign = campaigns_pb2.Campaign()
            campaign.CopyFrom(request.campaign)
            campaign.name = f"campaigns/{request.campaign_id}"
            campaign.state = campaigns_pb2.CAMPAIGN_STATE_DRAFT
            campaign.caller_id = validation.to_e164(campaign.caller_id, "")
            if campaign.callback_number:
                campaign.callback_number = validation.to_e164(campaign.callback_number, "")
            apply_trunk_defaults(campaign.trunk)
            campaign.script.version = 1
            campaign.max_concurrent_calls = campaign.max_concurrent_calls or self._settings.default_max_concurrent_calls
            campaign.max_attempts = campaign.max_attempts or 1
            campaign.voice = campaign.voice or default_voice(campaign.language)
            campaign.create_time.GetCurrentTime()
            await self._store.put_campaign(tenant_id, request.campaign_id, campaign)
            await self._store.add_campaign_to_index(tenant_id, request.campaign_id)
            response = campaigns_pb2.CreateCampaignResponse(campaign=without_secrets(campaign))
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
        campaign = await self._campaign(tenant_id, request.name, context)
        return campaigns_pb2.GetCampaignResponse(campaign=without_secrets(campaign))

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
                out.campaigns.append(without_secrets(campaign))
        if len(ids) > size:
            out.next_page_token = str(offset + size)
        return out

    async def ImportContacts(
        self, request_iterator: AsyncIterator[campaigns_pb2.ImportContactsRequest], context: Context
    ) -> campaigns_pb2.ImportContactsResponse:
        tenant_id = await self._auth.tenant(context)
        campaign: campaigns_pb2.Campaign | None = None
        upload: ContactUpload | None = None
        script_variables: set[str] = set()
        # Only the first problems are kept (errors.bounded_violations lists no more), the rest counted.
        problems: list[FieldViolation] = []
        problem_count = 0
        row = 0
        room = 0  # contacts the campaign may still take under the tenant's quota
        try:
            # Checked as it streams, held aside in Redis (imports.py): memory stays flat however long
            # the upload, and a malformed row still fails the whole upload with nothing stored.
            async for chunk in request_iterator:
                if campaign is None:
                    if not chunk.campaign:
                        await abort_invalid(context, [FieldViolation("campaign", "required in the first message")])
                    campaign = await self._campaign(tenant_id, chunk.campaign, context)
                    cid = campaign_id_of(campaign.name)
                    upload = ContactUpload(self._store.redis, tenant_id, cid)
                    script_variables = obzvon_script.script_variables(campaign.script)
                    room = await self._contacts_room(tenant_id, cid)
                assert upload is not None
                if row + len(chunk.contacts) > self._settings.max_contacts_per_upload:
                    limit = self._settings.max_contacts_per_upload
                    await abort_invalid(
                        context, [FieldViolation("contacts", f"at most {limit} contacts per upload; split the file")]
                    )
                # Off the event loop: parsing 500 numbers is tens of milliseconds other tenants should not wait.
                checked = await asyncio.to_thread(
                    validation.check_contacts, chunk.contacts, row + 1, script_variables, self._settings.default_region
                )
                row += len(chunk.contacts)
                good = [StagedRow(c.row, c.contact) for c in checked.accepted]
                problem_count += len(checked.problems)
                problems.extend(checked.problems[: max(0, MAX_LISTED_VIOLATIONS - len(problems))])
                if problem_count:
                    continue  # the upload fails; keep checking, only to name and count its problems
                staged = await upload.stage(good)
                for dup in staged.duplicates:
                    problem_count += 1
                    if len(problems) < MAX_LISTED_VIOLATIONS:
                        problems.append(
                            FieldViolation(f"contacts[{dup.row}].contact_id", f'duplicate "{dup.contact.contact_id}"')
                        )
                room -= staged.new_contacts
                if room < 0:
                    await context.abort_with_status(
                        quota_exceeded_status(
                            f"tenants/{tenant_id}/campaigns/{campaign_id_of(campaign.name)}",
                            "the campaign would hold more contacts than the tenant's max_contacts_per_campaign",
                        )
                    )
            if campaign is None or upload is None:
                await abort_invalid(context, [FieldViolation("campaign", "empty upload")])
            assert campaign is not None and upload is not None
            if problem_count:
                await abort_invalid(context, problems, total=problem_count)
            with log_context(tenant_id=tenant_id, campaign_id=campaign_id_of(campaign.name)):
                response = await self._control.import_contacts(
                    tenant_id, campaign, upload, self._settings.import_chunk_rows
                )
                log.info(
                    "contacts imported", extra={"imported": response.imported, "rejected": response.rejected_count}
                )
                return response
        finally:
            if upload is not None:
                await upload.discard()

    async def _contacts_room(self, tenant_id: str, campaign_id: str) -> int:
        """How many more contacts the campaign may hold under the tenant's quota."""
        tenant = await self._store.get_tenant(tenant_id)
        quota = (tenant.max_contacts_per_campaign if tenant else 0) or self._settings.default_max_contacts_per_campaign
        held = int(await self._store.redis.hlen(keys.contacts(tenant_id, campaign_id)))  # type: ignore[misc]
        return quota - held

    async def StartCampaign(
        self, request: campaigns_pb2.StartCampaignRequest, context: Context
    ) -> campaigns_pb2.StartCampaignResponse:
        tenant_id = await self._auth.tenant(context)
        campaign = await self._campaign(tenant_id, request.name, context)
        problems = await asyncio.to_thread(validate_script, campaign.script, "campaign.script")
        # A campaign stored before trunks were structured (or before its profile required a callback
        # number) is refused here rather than having every call refused by the dialer.
        problems += check_trunk(campaign.trunk, "campaign.trunk") + validation.check_callback_number(campaign)
        if problems:
            await abort_invalid(context, problems)
        if not campaign.compliance_profile:
            await abort_invalid(context, [FieldViolation("campaign.compliance_profile", "required to start")])
        with log_context(tenant_id=tenant_id, campaign_id=campaign_id_of(request.name)):
            try:
                campaign = await self._control.start(
                    tenant_id, campaign, acknowledge_spam_pause=request.acknowledge_spam_pause
                )
            except SpamPauseHolds as e:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        return campaigns_pb2.StartCampaignResponse(campaign=without_secrets(campaign))

    async def PauseCampaign(
        self, request: campaigns_pb2.PauseCampaignRequest, context: Context
    ) -> campaigns_pb2.PauseCampaignResponse:
        tenant_id = await self._auth.tenant(context)
        campaign = await self._campaign(tenant_id, request.name, context)
        campaign = await self._control.pause(tenant_id, campaign, request.reason or "paused by the tenant")
        return campaigns_pb2.PauseCampaignResponse(campaign=without_secrets(campaign))

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

    async def GetRecording(
        self, request: campaigns_pb2.GetRecordingRequest, context: Context
    ) -> campaigns_pb2.GetRecordingResponse:
        tenant_id = await self._auth.tenant(context)
        campaign = await self._campaign(tenant_id, request.campaign, context)
        what = f"recording of attempt {request.attempt_id!r}"
        try:
            # Built from the caller's own tenant: another tenant's recording cannot be named at all.
            key = RecordingKey(tenant_id, campaign_id_of(campaign.name), request.contact_id, request.attempt_id).key
        except ValueError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{what} not found")
        if self._recordings is None or not await self._recordings.exists(key):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{what} not found")
        assert self._recordings is not None
        access = await self._recordings.access(key, self._settings.recordings_url_ttl_s)
        if len(access.audio) > self._settings.grpc_max_send_bytes - 4096:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{what} is too long to send in a reply from a folder store: configure an S3 store",
            )
        response = campaigns_pb2.GetRecordingResponse(key=key, url=access.url, audio=access.audio)
        if access.expires is not None:
            response.expire_time.FromDatetime(access.expires)
        return response

    async def DeleteContactData(
        self, request: campaigns_pb2.DeleteContactDataRequest, context: Context
    ) -> campaigns_pb2.DeleteContactDataResponse:
        tenant_id = await self._auth.tenant(context)
        campaign = await self._campaign(tenant_id, request.campaign, context)
        cid = campaign_id_of(campaign.name)
        if await self._store.get_contact(tenant_id, cid, request.contact_id) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"contact {request.contact_id!r} not found")
        deleted = 0
        if self._recordings is not None:
            deleted = await delete_prefix(self._recordings, contact_prefix(tenant_id, cid, request.contact_id))
        log.info("contact data deleted", extra={"tenant_id": tenant_id, "campaign_id": cid, "recordings": deleted})
        return campaigns_pb2.DeleteContactDataResponse(recordings_deleted=deleted)


async def _page_offset(token: str, context: Context) -> int:
    """Page tokens are offsets; anything else did not come from this API."""
    if not token:
        return 0
    if not token.isdigit():
        await abort_invalid(context, [FieldViolation("page_token", "not a token this API returned")])
    return int(token)
