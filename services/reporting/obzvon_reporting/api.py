"""gRPC ReportingService: reads the Redis view the faust agent keeps, scoped to the caller's tenant."""

from __future__ import annotations

import json

import grpc
from obzvon import keys
from obzvon.auth import Authenticator
from obzvon.errors import FieldViolation, abort_invalid
from obzvon.v1 import reports_pb2, reports_pb2_grpc
from redis.asyncio import Redis

from obzvon_reporting.counting import empty_report, to_proto


class ReportingApi(reports_pb2_grpc.ReportingServiceServicer):
    def __init__(self, redis: Redis, auth: Authenticator) -> None:
        self._redis = redis
        self._auth = auth

    async def GetCampaignReport(
        self, request: reports_pb2.GetCampaignReportRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> reports_pb2.GetCampaignReportResponse:
        tenant = await self._auth.tenant(context)
        campaign_id = request.campaign.removeprefix("campaigns/")
        if not campaign_id or "/" in campaign_id:
            await abort_invalid(context, [FieldViolation("campaign", "expected campaigns/{campaign_id}")])
        # Existence is the scheduler's record; another tenant's campaign is simply not found.
        if not await self._redis.exists(keys.campaign(tenant, campaign_id)):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"campaigns/{campaign_id} not found")
        raw = await self._redis.get(keys.report_view(tenant, campaign_id))
        report = json.loads(raw) if raw else empty_report()
        return reports_pb2.GetCampaignReportResponse(report=to_proto(f"campaigns/{campaign_id}", report))
