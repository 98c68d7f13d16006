"""The web dashboard: a page and the JSON it reads, served by reporting (OBZVON_DASHBOARD_PORT).

The page's assets are files of this package (web/), nothing is fetched from elsewhere. Every JSON
request carries a tenant's API key in `x-api-key` (the page asks for it once and keeps it in the
tab's sessionStorage); the same keys as the gRPC API, read on every request so a revoked key is
refused at once. Another tenant's campaign is 404, like NOT_FOUND in gRPC.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web
from google.protobuf.json_format import MessageToDict
from obzvon import keys
from obzvon.auth import METADATA_KEY, hash_api_key
from obzvon.v1 import events_pb2, reports_pb2
from redis.asyncio import Redis

from obzvon_reporting.reads import campaign_of, report_of
from obzvon_reporting.records import MAX_PAGE_SIZE, BadPageToken, CallRecords

ASSETS = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
CAMPAIGNS_LISTED = 200
TENANT = web.AppKey("tenant", str)


def _asset(name: str) -> str:
    return resources.files("obzvon_reporting").joinpath("web", name).read_text(encoding="utf-8")


def _json(message: object) -> web.Response:
    return web.json_response(message, dumps=lambda v: json.dumps(v, ensure_ascii=False))


class Dashboard:
    def __init__(self, redis: Redis, admin_api_key: str) -> None:
        self._redis = redis
        self._admin_hash = hash_api_key(admin_api_key) if admin_api_key else ""

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers])
        app.router.add_get("/", self.page)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/api/campaigns", self.campaigns)
        app.router.add_get("/api/campaigns/{campaign}/report", self.report)
        app.router.add_get("/api/campaigns/{campaign}/calls", self.calls)
        app.router.add_get("/api/campaigns/{campaign}/calls/{attempt}", self.call)
        return app

    @web.middleware
    async def _headers(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        # The page loads nothing from elsewhere, so the browser may refuse anything that tries.
        response.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=_asset("dashboard.html"), content_type="text/html")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return web.Response(text=_asset(name), content_type=ASSETS[name])

    async def _tenant(self, request: web.Request) -> str:
        supplied = request.headers.get(METADATA_KEY, "")
        if not supplied:
            raise web.HTTPUnauthorized(text=f"missing {METADATA_KEY} header")
        digest = hash_api_key(supplied)
        if self._admin_hash and secrets.compare_digest(digest, self._admin_hash):
            raise web.HTTPForbidden(text="use a tenant's API key")
        tenant = await self._redis.get(keys.api_key(digest))
        if tenant is None:
            raise web.HTTPUnauthorized(text="unknown or revoked API key")
        return tenant.decode() if isinstance(tenant, bytes) else str(tenant)

    async def _campaign(self, request: web.Request) -> tuple[str, str, CallRecords]:
        tenant = await self._tenant(request)
        campaign_id = request.match_info["campaign"]
        campaign = await campaign_of(self._redis, tenant, campaign_id)
        if campaign is None:
            raise web.HTTPNotFound(text=f"campaigns/{campaign_id} not found")
        return tenant, campaign_id, CallRecords(self._redis, tenant, campaign_id, campaign.script)

    async def campaigns(self, request: web.Request) -> web.Response:
        tenant = await self._tenant(request)
        listed = []
        for raw in await self._redis.zrevrange(keys.campaigns(tenant), 0, CAMPAIGNS_LISTED - 1):
            campaign_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            campaign = await campaign_of(self._redis, tenant, campaign_id)
            if campaign is not None:
                listed.append({"id": campaign_id, "displayName": campaign.display_name})
        return _json({"campaigns": listed})

    async def report(self, request: web.Request) -> web.Response:
        tenant, campaign_id, _ = await self._campaign(request)
        report = await report_of(self._redis, tenant, campaign_id)
        return _json(MessageToDict(report, always_print_fields_with_no_presence=True))

    async def calls(self, request: web.Request) -> web.Response:
        _, _, records = await self._campaign(request)
        q = request.query
        f = reports_pb2.CallRecordFilter(node=q.get("node", "")[:200], tag=q.get("tag", "")[:200])
        outcome = q.get("outcome", "")
        if outcome:
            if outcome not in events_pb2.CallOutcome.keys():
                raise web.HTTPBadRequest(text=f"outcome: unknown {outcome!r}")
            f.outcome = events_pb2.CallOutcome.Value(outcome)
        try:
            size = min(max(int(q.get("page_size", "50")), 1), MAX_PAGE_SIZE)
            page = await records.page(f, size, q.get("page_token", ""))
        except (ValueError, BadPageToken) as e:
            raise web.HTTPBadRequest(text="page_size or page_token: not valid") from e
        return _json(
            {
                "callRecords": [MessageToDict(r) for r in page.records],
                "nextPageToken": page.next_token,
            }
        )

    async def call(self, request: web.Request) -> web.Response:
        _, _, records = await self._campaign(request)
        attempt_id = request.match_info["attempt"]
        record = await records.get(attempt_id)
        if record is None:
            raise web.HTTPNotFound(text=f"call {attempt_id} not found")
        events = [MessageToDict(e) for e in await records.events(attempt_id)]
        return _json({"record": MessageToDict(record), "events": events})


async def serve(redis: Redis, admin_api_key: str, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(Dashboard(redis, admin_api_key).app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
