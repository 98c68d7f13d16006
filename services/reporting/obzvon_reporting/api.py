"""gRPC ReportingService: reads the Redis view the faust agent keeps, scoped to the caller's tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc
from obzvon.auth import Authenticator
from obzvon.errors import FieldViolation, abort_invalid
from obzvon.v1 import campaigns_pb2, events_pb2, reports_pb2, reports_pb2_grpc
from redis.asyncio import Redis

from obzvon_reporting.reads import campaign_of, report_of
from obzvon_reporting.records import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, BadPageToken, CallRecords

Context: TypeAlias = "grpc.aio.ServicerContext[object, object]"


class ReportingApi(reports_pb2_grpc.ReportingServiceServicer):
    def __init__(self, redis: Redis, auth: Authenticator, watch_interval_s: float = 0.5) -> None:
        self._redis = redis
        self._auth = auth
        self._watch_interval_s = watch_interval_s

    async def _campaign(self, name: str, context: Context) -> tuple[str, str, campaigns_pb2.Campaign]:
        """The caller's tenant, the campaign id and its record; another tenant's campaign is not found."""
        tenant = await self._auth.tenant(context)
        campaign_id = name.removeprefix("campaigns/")
        if not campaign_id or "/" in campaign_id:
            await abort_invalid(context, [FieldViolation("campaign", "expected campaigns/{campaign_id}")])
        # Existence is the scheduler's record, under the caller's tenant.
        campaign = await campaign_of(self._redis, tenant, campaign_id)
        if campaign is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"campaigns/{campaign_id} not found")
            raise AssertionError("abort raises")  # for the type checker: grpc's stubs do not say so
        return tenant, campaign_id, campaign

    async def _report(self, tenant: str, campaign_id: str) -> reports_pb2.CampaignReport:
        return await report_of(self._redis, tenant, campaign_id)

    async def GetCampaignReport(
        self, request: reports_pb2.GetCampaignReportRequest, context: Context
    ) -> reports_pb2.GetCampaignReportResponse:
        tenant, campaign_id, _ = await self._campaign(request.campaign, context)
        return reports_pb2.GetCampaignReportResponse(report=await self._report(tenant, campaign_id))

    async def WatchCampaignReport(
        self, request: reports_pb2.WatchCampaignReportRequest, context: Context
    ) -> AsyncIterator[reports_pb2.WatchCampaignReportResponse]:
        tenant, campaign_id, _ = await self._campaign(request.campaign, context)
        last: reports_pb2.CampaignReport | None = None
        while True:
            report = await self._report(tenant, campaign_id)
            if report != last:
                yield reports_pb2.WatchCampaignReportResponse(report=report)
                last = report
            await asyncio.sleep(self._watch_interval_s)

    async def ListCallRecords(
        self, request: reports_pb2.ListCallRecordsRequest, context: Context
    ) -> reports_pb2.ListCallRecordsResponse:
        tenant, campaign_id, campaign = await self._campaign(request.campaign, context)
        await _check_filter(request.filter, "filter", context)
        if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
            await abort_invalid(context, [FieldViolation("page_size", f"expected 0 to {MAX_PAGE_SIZE}")])
        store = CallRecords(self._redis, tenant, campaign_id, campaign.script)
        try:
            page = await store.page(request.filter, request.page_size or DEFAULT_PAGE_SIZE, request.page_token)
        except BadPageToken:
            await abort_invalid(context, [FieldViolation("page_token", "not a token this API returned")])
        return reports_pb2.ListCallRecordsResponse(call_records=page.records, next_page_token=page.next_token)

    async def ExportCallRecords(
        self, request: reports_pb2.ExportCallRecordsRequest, context: Context
    ) -> AsyncIterator[reports_pb2.ExportCallRecordsResponse]:
        tenant, campaign_id, campaign = await self._campaign(request.campaign, context)
        await _check_filter(request.filter, "filter", context)
        store = CallRecords(self._redis, tenant, campaign_id, campaign.script)
        async for chunk in store.csv_chunks(request.filter):
            yield reports_pb2.ExportCallRecordsResponse(csv=chunk)


async def _check_filter(f: reports_pb2.CallRecordFilter, where: str, context: Context) -> None:
    problems = []
    if f.outcome and f.outcome not in events_pb2.CallOutcome.values():
        problems.append(FieldViolation(f"{where}.outcome", "unknown outcome"))
    if (
        f.HasField("start_time")
        and f.HasField("end_time")
        and f.end_time.ToNanoseconds() <= f.start_time.ToNanoseconds()
    ):
        problems.append(FieldViolation(f"{where}.end_time", "must be after start_time"))
    for name, value in (("node", f.node), ("tag", f.tag)):
        if len(value) > 200:
            problems.append(FieldViolation(f"{where}.{name}", "at most 200 characters"))
    if problems:
        await abort_invalid(context, problems)
