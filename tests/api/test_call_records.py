"""Call records, the CSV export and the dashboard, through the real reporting process, from call.events
fed directly (no calls are placed); the dashboard is also looked at in Debian's headless Chromium."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
import redis
from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp
from obzvon import keys
from obzvon.bus import Producer
from obzvon.script import load_script_yaml
from obzvon.settings import CommonSettings
from obzvon.topics import CALL_EVENTS
from obzvon.v1 import (
    campaigns_pb2,
    campaigns_pb2_grpc,
    events_pb2,
    reports_pb2,
    reports_pb2_grpc,
    tenants_pb2,
    tenants_pb2_grpc,
)
from obzvon_devstack.devstack import DevStack, bin_path, wait_healthy

T = events_pb2.CallEventType
SCRIPT = """
start: confirm
nodes:
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: confirmed, no: cancelled}}
  confirmed: {say: "Спасибо!", tag: confirmed, set: {visit: confirmed}, next: end}
  cancelled: {say: "Жаль.", tag: cancelled, set: {visit: "=cancelled"}, next: end}
  end: {hangup: true}
"""
T0_MS = 1_760_000_000_000
PHONE = "+74951234567"


def tenant_key(scheduler: grpc.Channel, devstack: DevStack, tenant_id: str) -> list[tuple[str, str]]:
    response = tenants_pb2_grpc.TenantServiceStub(scheduler).CreateTenant(
        tenants_pb2.CreateTenantRequest(
            tenant_id=tenant_id, tenant=tenants_pb2.Tenant(display_name="Acme", caller_ids=["+74950000000"])
        ),
        metadata=[("x-api-key", devstack.admin_api_key)],
    )
    return [("x-api-key", response.api_key)]


class Attempt:
    def __init__(self, tenant_id: str, attempt_id: str, contact_id: str, start_ms: int) -> None:
        self.base = {
            "tenant_id": tenant_id,
            "campaign_id": "rem",
            "attempt_id": attempt_id,
            "contact_id": contact_id,
            "phone_number": PHONE,
        }
        self.start_ms = start_ms
        self.events: list[events_pb2.CallEvent] = []

    def add(self, type_: int, after_ms: int, **kw: object) -> Attempt:
        at = Timestamp()
        at.FromMilliseconds(self.start_ms + after_ms)
        self.events.append(
            events_pb2.CallEvent(
                event_id=uuid.uuid4().hex,
                type=type_,  # type: ignore[arg-type]
                time=at,
                sequence=len(self.events) + 1,
                **self.base,  # type: ignore[arg-type]
                **kw,  # type: ignore[arg-type]
            )
        )
        return self


def calls(tenant_id: str) -> list[Attempt]:
    done = events_pb2.OutcomeDetail(outcome=events_pb2.CALL_OUTCOME_COMPLETED)
    yes = (
        Attempt(tenant_id, "a-yes", "k1", T0_MS)
        .add(T.CALL_EVENT_TYPE_DIALING, 0)
        .add(T.CALL_EVENT_TYPE_RINGING, 100)
        .add(T.CALL_EVENT_TYPE_ANSWERED, 2100)
        .add(T.CALL_EVENT_TYPE_NODE_ENTERED, 2200, node="confirm")
        .add(T.CALL_EVENT_TYPE_REPLY, 5000, node="confirm", intent="yes", transcript="да", confidence=0.9)
        .add(T.CALL_EVENT_TYPE_NODE_ENTERED, 5100, node="confirmed", tag="confirmed")
        .add(T.CALL_EVENT_TYPE_NODE_ENTERED, 8000, node="end")
        .add(T.CALL_EVENT_TYPE_COMPLETED, 9100, outcome=done)
    )
    no = (
        Attempt(tenant_id, "a-no", "k2", T0_MS + 60_000)
        .add(T.CALL_EVENT_TYPE_DIALING, 0)
        .add(T.CALL_EVENT_TYPE_ANSWERED, 1000)
        .add(T.CALL_EVENT_TYPE_NODE_ENTERED, 1100, node="confirm")
        .add(T.CALL_EVENT_TYPE_DTMF, 3000, node="confirm", transcript="2", intent="no")
        .add(T.CALL_EVENT_TYPE_REPLY, 3000, node="confirm", intent="no", transcript="2")
        .add(T.CALL_EVENT_TYPE_NODE_ENTERED, 3100, node="cancelled", tag="cancelled")
        .add(T.CALL_EVENT_TYPE_NODE_ENTERED, 5000, node="end")
        .add(T.CALL_EVENT_TYPE_COMPLETED, 6000, outcome=done)
    )
    hung_up = (
        Attempt(tenant_id, "a-hup", "k3", T0_MS + 120_000)
        .add(T.CALL_EVENT_TYPE_DIALING, 0)
        .add(T.CALL_EVENT_TYPE_ANSWERED, 4000)
        .add(T.CALL_EVENT_TYPE_NODE_ENTERED, 4100, node="confirm")
        .add(
            T.CALL_EVENT_TYPE_COMPLETED,
            6000,
            outcome=events_pb2.OutcomeDetail(outcome=events_pb2.CALL_OUTCOME_CALLEE_HUNG_UP, node="confirm"),
        )
    )
    busy = (
        Attempt(tenant_id, "a-busy", "k4", T0_MS + 180_000)
        .add(T.CALL_EVENT_TYPE_DIALING, 0)
        .add(
            T.CALL_EVENT_TYPE_FAILED,
            500,
            sip_code=486,
            outcome=events_pb2.OutcomeDetail(outcome=events_pb2.CALL_OUTCOME_BUSY),
        )
    )
    return [yes, no, hung_up, busy]


async def feed(topic_prefix: str, events: list[events_pb2.CallEvent]) -> None:
    async with Producer(CommonSettings(topic_prefix=topic_prefix)) as producer:
        for event in events:
            await producer.send(CALL_EVENTS, event.attempt_id, event)


def dashboard_get(devstack: DevStack, path: str, key: list[tuple[str, str]]) -> tuple[int, Any]:
    request = urllib.request.Request(devstack.dashboard_url + path, headers=dict(key))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, None


@pytest.fixture
def reporting(devstack: DevStack) -> grpc.Channel:
    # A killed worker's partitions go to the next one after 6 s (Kafka's least), not faust's 60 s.
    devstack.extra_env.update({"OBZVON_BROKER_SESSION_TIMEOUT_S": "6", "OBZVON_BROKER_HEARTBEAT_INTERVAL_S": "1"})
    devstack.start("reporting")
    wait_healthy(devstack.reporting_addr, 90)
    return grpc.insecure_channel(devstack.reporting_addr)


def test_call_records_filters_paging_export_and_tenant_isolation(
    devstack: DevStack, scheduler: grpc.Channel, reporting: grpc.Channel, test_redis: str
) -> None:
    tenant_id = f"t-{uuid.uuid4().hex[:8]}"
    key = tenant_key(scheduler, devstack, tenant_id)
    stranger = tenant_key(scheduler, devstack, f"t-{uuid.uuid4().hex[:8]}")
    campaigns_pb2_grpc.CampaignServiceStub(scheduler).CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id="rem",
            campaign=campaigns_pb2.Campaign(
                display_name="Reminders",
                purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
                caller_id="+74950000000",
                compliance_profile="default",
                language="ru",
                trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
                script=load_script_yaml(SCRIPT),
            ),
        ),
        metadata=key,
    )
    attempts = calls(tenant_id)
    events = [e for a in attempts for e in a.events]
    # The first call's events come again after all the others (a redelivery): counted once.
    asyncio.run(feed(devstack.topic_prefix, [*events, *attempts[0].events]))

    stub = reports_pb2_grpc.ReportingServiceStub(reporting)
    deadline = time.monotonic() + 60
    while True:
        report = stub.GetCampaignReport(
            reports_pb2.GetCampaignReportRequest(campaign="campaigns/rem"), metadata=key
        ).report
        if report.completed + report.failed >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    time.sleep(1.0)  # the redelivered events, had they been counted, would be by now
    report = stub.GetCampaignReport(reports_pb2.GetCampaignReportRequest(campaign="campaigns/rem"), metadata=key).report
    assert (report.attempts, report.answered, report.completed, report.failed, report.yes) == (4, 3, 3, 1, 1)
    funnel = {n.node: n for n in report.funnel}
    assert (funnel["confirm"].entered, dict(funnel["confirm"].answers), funnel["confirm"].hung_up) == (
        3,
        {"yes": 1, "no": 1},
        1,
    )
    assert (report.ring.count, report.ring.max_ms, report.talk.max_ms) == (3, 4000, 7000)

    def listed(f: reports_pb2.CallRecordFilter, page_size: int = 0) -> list[reports_pb2.CallRecord]:
        out, token = [], ""
        while True:
            page = stub.ListCallRecords(
                reports_pb2.ListCallRecordsRequest(
                    campaign="campaigns/rem", filter=f, page_size=page_size, page_token=token
                ),
                metadata=key,
            )
            out.extend(page.call_records)
            token = page.next_page_token
            if not token:
                return out

    every = listed(reports_pb2.CallRecordFilter(), page_size=1)
    assert [r.attempt_id for r in every] == ["a-yes", "a-no", "a-hup", "a-busy"]
    yes = every[0]
    assert (yes.contact_id, list(yes.path), list(yes.tags), dict(yes.result_fields)) == (
        "k1",
        ["confirm", "confirmed", "end"],
        ["confirmed"],
        {"visit": "confirmed"},
    )
    assert [(r.node, r.intent, r.transcript) for r in yes.replies] == [("confirm", "yes", "да")]
    assert (yes.ring_ms, yes.talk_ms, yes.outcome) == (2000, 7000, events_pb2.CALL_OUTCOME_COMPLETED)
    assert [(r.intent, r.digits) for r in every[1].replies] == [("no", "2")]
    assert (every[2].outcome, every[2].end_node) == (events_pb2.CALL_OUTCOME_CALLEE_HUNG_UP, "confirm")
    assert (every[3].outcome, every[3].sip_code) == (events_pb2.CALL_OUTCOME_BUSY, 486)

    def ids(f: reports_pb2.CallRecordFilter) -> list[str]:
        return [r.attempt_id for r in listed(f)]

    assert ids(reports_pb2.CallRecordFilter(tag="confirmed")) == ["a-yes"]
    assert ids(reports_pb2.CallRecordFilter(outcome=events_pb2.CALL_OUTCOME_BUSY)) == ["a-busy"]
    assert ids(reports_pb2.CallRecordFilter(node="confirm")) == ["a-yes", "a-no", "a-hup"]
    start, end = Timestamp(), Timestamp()
    start.FromMilliseconds(T0_MS + 30_000)
    end.FromMilliseconds(T0_MS + 150_000)
    assert ids(reports_pb2.CallRecordFilter(start_time=start, end_time=end)) == ["a-no", "a-hup"]
    with pytest.raises(grpc.RpcError) as bad:
        stub.ListCallRecords(
            reports_pb2.ListCallRecordsRequest(campaign="campaigns/rem", page_token="nonsense"), metadata=key
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    text = "".join(
        chunk.csv
        for chunk in stub.ExportCallRecords(
            reports_pb2.ExportCallRecordsRequest(campaign="campaigns/rem"), metadata=key
        )
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["attempt_id"] for r in rows] == ["a-yes", "a-no", "a-hup", "a-busy"]
    assert [r["visit"] for r in rows] == ["confirmed", "'=cancelled", "", ""]  # a formula is not run
    assert rows[0]["outcome"] == "CALL_OUTCOME_COMPLETED" and rows[0]["path"] == "confirm>confirmed>end"
    assert rows[3]["sip_code"] == "486"
    # Records name the contact; the callee's number stays in the scheduler's store.
    assert PHONE[2:] not in text and all(PHONE[2:] not in str(r) for r in every)
    stored = redis.Redis.from_url(test_redis).hvals(keys.call_record(tenant_id, "rem", "a-yes"))
    assert stored and all(PHONE[2:].encode() not in v for v in stored)

    # The CLI writes the same CSV (`obzvon calls export rem > calls.csv`).
    env = {**os.environ, "OBZVON_API_KEY": key[0][1], "OBZVON_REPORTING_ADDR": devstack.reporting_addr}
    cli = subprocess.run([bin_path("obzvon"), "calls", "export", "rem"], env=env, capture_output=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.decode() == text

    # Another tenant sees none of it: the campaign does not exist for it.
    for call in (
        lambda: stub.GetCampaignReport(
            reports_pb2.GetCampaignReportRequest(campaign="campaigns/rem"), metadata=stranger
        ),
        lambda: stub.ListCallRecords(reports_pb2.ListCallRecordsRequest(campaign="campaigns/rem"), metadata=stranger),
        lambda: list(
            stub.ExportCallRecords(reports_pb2.ExportCallRecordsRequest(campaign="campaigns/rem"), metadata=stranger)
        ),
        lambda: next(
            stub.WatchCampaignReport(
                reports_pb2.WatchCampaignReportRequest(campaign="campaigns/rem"), metadata=stranger
            )
        ),
    ):
        with pytest.raises(grpc.RpcError) as denied:
            call()
        assert denied.value.code() == grpc.StatusCode.NOT_FOUND

    # The dashboard serves its page and the same figures, to the same tenant key only.
    with urllib.request.urlopen(devstack.dashboard_url, timeout=10) as response:
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")  # no CDN, nothing inline
        page = response.read().decode()
    assert "/static/dashboard.js" in page and "http" not in page.split("<body>")[1].replace("http://www.w3", "")
    assert urllib.request.urlopen(devstack.dashboard_url + "static/dashboard.js", timeout=10).status == 200
    assert dashboard_get(devstack, "api/campaigns", key) == (
        200,
        {"campaigns": [{"id": "rem", "displayName": "Reminders"}]},
    )
    status, shown = dashboard_get(devstack, "api/campaigns/rem/report", key)
    assert (status, shown) == (200, MessageToDict(report, always_print_fields_with_no_presence=True))
    status, found = dashboard_get(devstack, "api/campaigns/rem/calls?tag=confirmed", key)
    assert [r["attemptId"] for r in found["callRecords"]] == ["a-yes"]
    status, one = dashboard_get(devstack, "api/campaigns/rem/calls/a-no", key)
    assert one["record"]["replies"][0]["digits"] == "2" and len(one["events"]) == 8
    assert dashboard_get(devstack, "api/campaigns/rem/report", [])[0] == 401
    assert dashboard_get(devstack, "api/campaigns/rem/report", [("x-api-key", devstack.admin_api_key)])[0] == 403
    assert dashboard_get(devstack, "api/campaigns/rem/report", stranger)[0] == 404
    assert dashboard_get(devstack, "api/campaigns/rem/calls/a-no", stranger)[0] == 404
    assert dashboard_get(devstack, "api/campaigns", stranger) == (200, {"campaigns": []})

    # The watch stream's first message is the current report; a new event shows within 2 s.
    watch = stub.WatchCampaignReport(reports_pb2.WatchCampaignReportRequest(campaign="campaigns/rem"), metadata=key)
    assert next(watch).report == report
    late = Attempt(tenant_id, "a-late", "k5", T0_MS + 240_000).add(T.CALL_EVENT_TYPE_DIALING, 0)
    asyncio.run(feed(devstack.topic_prefix, late.events))
    sent = time.monotonic()
    assert next(watch).report.attempts == 5
    assert time.monotonic() - sent < 2.0
    watch.cancel()


CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium") or "chromium-headless-shell"


class Browser:
    """Just enough of the DevTools protocol: evaluate JavaScript, take a screenshot."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._id = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        await self._ws.send_json({"id": self._id, "method": method, "params": params})
        while True:
            message = await self._ws.receive_json(timeout=30)
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    async def until(self, expression: str, timeout_s: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = await self.js(expression)
            if value or time.monotonic() > deadline:
                return value
            await asyncio.sleep(0.2)


async def look(url: str, api_key: str, profile: Path) -> dict[str, Any]:
    """What the page shows once a person typed the key and opened campaign "rem", and its screenshot."""
    chrome = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "--window-size=1280,1800",
        "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port = await asyncio.to_thread(devtools_port, profile / "DevToolsActivePort")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json") as response:
                target = next(t for t in await response.json() if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                b = Browser(ws)
                await b.call("Page.navigate", url=url)
                await b.until("document.readyState === 'complete'")
                # What a person does: types the key into the form, then picks the campaign.
                await b.js(
                    f"document.getElementById('key').value = {json.dumps(api_key)};"
                    "document.getElementById('login').requestSubmit(); true"
                )
                await b.until("!!document.querySelector('nav a[data-campaign=\"rem\"]')")
                await b.js("document.querySelector('nav a[data-campaign=\"rem\"]').click(); true")
                shown = await b.until(
                    "document.querySelectorAll('#calls tbody tr').length === 4 && "
                    "document.querySelectorAll('[data-metric]').length > 0 && "
                    "Object.fromEntries([...document.querySelectorAll('[data-metric]')]"
                    ".map(t => [t.dataset.metric, Number(t.querySelector('b').textContent)]))"
                )
                funnel = await b.js("document.querySelector('[data-entered=\"confirm\"]').textContent")
                outcomes = await b.js(
                    "Object.fromEntries([...document.querySelectorAll('#chart-outcomes [data-value]')]"
                    ".map(t => [t.dataset.value, Number(t.textContent)]))"
                )
                await b.js("document.querySelector('#calls tbody tr[data-attempt=\"a-yes\"]').click(); true")
                drill = await b.until(
                    "!document.getElementById('call').hidden && document.getElementById('call-facts').textContent"
                )
                shot = await b.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
                return {
                    "tiles": shown,
                    "funnel": funnel,
                    "outcomes": outcomes,
                    "drill": drill,
                    "png": base64.b64decode(shot["data"]),
                }
    finally:
        # The whole group: Debian's launcher is a script that leaves chromium's processes behind it.
        os.killpg(chrome.pid, signal.SIGKILL)
        await chrome.wait()


def devtools_port(port_file: Path) -> int:
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text().strip():
        assert time.monotonic() < deadline, "chromium did not open its DevTools port"
        time.sleep(0.1)
    return int(port_file.read_text().split()[0])


def test_dashboard_shows_the_report_in_chromium(
    devstack: DevStack, scheduler: grpc.Channel, reporting: grpc.Channel, tmp_path: Path
) -> None:
    tenant_id = f"t-{time.time_ns() % 10**9}"
    key = tenant_key(scheduler, devstack, tenant_id)
    campaigns_pb2_grpc.CampaignServiceStub(scheduler).CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id="rem",
            campaign=campaigns_pb2.Campaign(
                display_name="Reminders",
                purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
                caller_id="+74950000000",
                compliance_profile="default",
                language="ru",
                trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
                script=load_script_yaml(SCRIPT),
            ),
        ),
        metadata=key,
    )
    asyncio.run(feed(devstack.topic_prefix, [e for a in calls(tenant_id) for e in a.events]))
    stub = reports_pb2_grpc.ReportingServiceStub(reporting)
    request = reports_pb2.GetCampaignReportRequest(campaign="campaigns/rem")
    deadline = time.monotonic() + 60
    while (report := stub.GetCampaignReport(request, metadata=key).report).completed + report.failed < 4:
        assert time.monotonic() < deadline
        time.sleep(0.3)

    screenshot = tmp_path / "dashboard.png"
    seen = asyncio.run(look(devstack.dashboard_url, key[0][1], tmp_path / "chromium"))
    screenshot.write_bytes(seen["png"])
    print(f"dashboard screenshot: {screenshot}")

    as_dict = MessageToDict(report, always_print_fields_with_no_presence=True)
    assert seen["tiles"] == {k: int(as_dict[k]) for k in seen["tiles"]}
    assert set(seen["tiles"]) >= {"attempts", "answered", "completed", "failed", "yes", "no"}
    assert seen["outcomes"] == {
        k.removeprefix("CALL_OUTCOME_").lower().replace("_", " "): v for k, v in report.outcome_counts.items()
    }
    assert seen["funnel"] == "3 entered"
    assert "confirm → confirmed → end" in seen["drill"] and "visit=confirmed" in seen["drill"]
    assert screenshot.stat().st_size > 10_000


def test_a_killed_worker_recovers_and_redeliveries_still_count_once(
    devstack: DevStack, scheduler: grpc.Channel, reporting: grpc.Channel
) -> None:
    tenant_id = f"t-{uuid.uuid4().hex[:8]}"
    key = tenant_key(scheduler, devstack, tenant_id)
    campaigns_pb2_grpc.CampaignServiceStub(scheduler).CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id="rem",
            campaign=campaigns_pb2.Campaign(
                display_name="Reminders",
                purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
                caller_id="+74950000000",
                compliance_profile="default",
                language="ru",
                trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
                script=load_script_yaml(SCRIPT),
            ),
        ),
        metadata=key,
    )
    attempts = calls(tenant_id)
    first_half = [e for a in attempts[:2] for e in a.events]
    request = reports_pb2.GetCampaignReportRequest(campaign="campaigns/rem")

    def finished(channel: grpc.Channel, n: int) -> reports_pb2.CampaignReport:
        stub = reports_pb2_grpc.ReportingServiceStub(channel)
        deadline = time.monotonic() + 90
        while (report := stub.GetCampaignReport(request, metadata=key).report).completed + report.failed < n:
            assert time.monotonic() < deadline, report
            time.sleep(0.3)
        return report

    asyncio.run(feed(devstack.topic_prefix, first_half))
    finished(reporting, 2)
    devstack.kill("reporting")  # SIGKILL: no commit, no flush
    devstack.start("reporting")
    wait_healthy(devstack.reporting_addr, 90)
    # Everything again (as a producer that replays would), then the rest.
    asyncio.run(feed(devstack.topic_prefix, [*first_half, *(e for a in attempts[2:] for e in a.events)]))
    with grpc.insecure_channel(devstack.reporting_addr) as channel:
        finished(channel, 4)
        time.sleep(1.5)  # a double count, were there one, would show by now
        report = finished(channel, 4)
    assert (report.attempts, report.answered, report.completed, report.failed, report.yes, report.no) == (
        4,
        3,
        3,
        1,
        1,
        1,
    )
    assert {n.node: n.entered for n in report.funnel} == {"confirm": 3, "confirmed": 1, "cancelled": 1, "end": 2}
