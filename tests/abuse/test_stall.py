"""No tenant can stall the platform: huge scripts, huge uploads and call floods are refused or absorbed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from obzvon.errors import field_violations, retry_delay_s
from obzvon.script import load_script_yaml
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, scripts_pb2, tenants_pb2, tenants_pb2_grpc
from obzvon_devstack.devstack import DevStack, wait_healthy

Metadata = list[tuple[str, str]]
NewTenant = Callable[[], Metadata]
SCRIPT = 'start: hi\nnodes:\n  hi: {say: "Здравствуйте, {name}!", next: bye}\n  bye: {hangup: "До свидания"}\n'


@pytest.fixture
def scheduler_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings a test gives its scheduler (parametrize indirectly); none by default."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def scheduler(devstack: DevStack, scheduler_env: dict[str, str]) -> Iterator[grpc.Channel]:
    """The API suite's scheduler (tests/api/conftest.py), with this test's own settings."""
    devstack.extra_env.update({"OBZVON_DIAL_WINDOW_S": "2", "OBZVON_MAX_CALL_S": "3", **scheduler_env})
    devstack.start("scheduler")
    wait_healthy(devstack.scheduler_addr, 60)
    with grpc.insecure_channel(devstack.scheduler_addr) as channel:
        yield channel


def campaign(**fields: Any) -> campaigns_pb2.Campaign:
    base: dict[str, Any] = {
        "display_name": "Stall",
        "purpose": campaigns_pb2.PURPOSE_INFORMATIONAL,
        "caller_id": "+74950000000",
        "compliance_profile": "default",
        "language": "ru",
        "trunk": campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
        "script": load_script_yaml(SCRIPT),
    }
    base.update(fields)
    return campaigns_pb2.Campaign(**base)


def chain_script(n: int) -> scripts_pb2.Script:
    """n say nodes in a row, then a hangup: the shape that took today's validation quadratic time."""
    script = scripts_pb2.Script(start="n0")
    script.nodes[f"n{n}"].hangup.text = "До свидания"
    for i in reversed(range(n)):
        script.nodes[f"n{i}"].say.text = f"Фраза номер {i}."
        script.nodes[f"n{i}"].next = f"n{i + 1}"
    return script


def create_tenant(channel: grpc.Channel, devstack: DevStack, **fields: Any) -> Metadata:
    response = tenants_pb2_grpc.TenantServiceStub(channel).CreateTenant(
        tenants_pb2.CreateTenantRequest(
            tenant_id=f"t-{uuid.uuid4().hex[:8]}",
            tenant=tenants_pb2.Tenant(display_name="Acme", caller_ids=["+74950000000"], **fields),
        ),
        metadata=[("x-api-key", devstack.admin_api_key)],
    )
    return [("x-api-key", response.api_key)]


def contacts(n: int, start: int = 0, **variables: str) -> list[campaigns_pb2.Contact]:
    return [
        campaigns_pb2.Contact(
            contact_id=f"k{i}", phone_number=f"+7495{1000000 + i:07d}", variables={"name": "Анна", **variables}
        )
        for i in range(start, start + n)
    ]


def upload(name: str, rows: list[campaigns_pb2.Contact]) -> Iterator[campaigns_pb2.ImportContactsRequest]:
    for i in range(0, max(len(rows), 1), 500):
        yield campaigns_pb2.ImportContactsRequest(campaign=name, contacts=rows[i : i + 500])


def test_a_5000_node_script_is_refused_at_once_and_other_tenants_are_served(
    scheduler: grpc.Channel, new_tenant: NewTenant
) -> None:
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    hostile, other = new_tenant(), new_tenant()
    outcome: dict[str, Any] = {}

    def create_huge() -> None:
        started = time.monotonic()
        try:
            stub.CreateCampaign(
                campaigns_pb2.CreateCampaignRequest(campaign_id="huge", campaign=campaign(script=chain_script(5000))),
                metadata=hostile,
            )
        except grpc.RpcError as e:
            outcome["code"] = e.code()  # type: ignore[attr-defined]
            outcome["fields"] = {v.field for v in field_violations(e)}
        outcome["s"] = time.monotonic() - started

    thread = threading.Thread(target=create_huge)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    stub.ListCampaigns(campaigns_pb2.ListCampaignsRequest(), metadata=other)
    other_s = time.monotonic() - started
    thread.join(60)
    assert outcome.get("code") == grpc.StatusCode.INVALID_ARGUMENT and outcome["fields"] == {"campaign.script.nodes"}
    assert outcome["s"] < 2.0 and other_s < 1.0, (outcome["s"], other_s)
    # A script at the limit is accepted, and starting it is quick too.
    stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(campaign_id="big", campaign=campaign(script=chain_script(499))),
        metadata=hostile,
    )
    started = time.monotonic()
    stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name="campaigns/big"), metadata=hostile)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("scheduler_env", [{"OBZVON_API_RATE_PER_S": "2", "OBZVON_API_BURST": "5"}], indirect=True)
def test_a_tenant_calling_in_a_loop_is_throttled_and_others_are_not(
    scheduler: grpc.Channel, new_tenant: NewTenant
) -> None:
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    flooding, other = new_tenant(), new_tenant()
    codes = []
    delay = None
    for _ in range(8):
        try:
            stub.ListCampaigns(campaigns_pb2.ListCampaignsRequest(), metadata=flooding)
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as e:
            codes.append(e.code())  # type: ignore[attr-defined]
            delay = retry_delay_s(e)
    assert codes[:5] == [grpc.StatusCode.OK] * 5 and grpc.StatusCode.RESOURCE_EXHAUSTED in codes[5:], codes
    assert delay is not None and 0 < delay <= 0.5
    stub.ListCampaigns(campaigns_pb2.ListCampaignsRequest(), metadata=other)  # its own bucket
    time.sleep(delay + 0.05)
    stub.ListCampaigns(campaigns_pb2.ListCampaignsRequest(), metadata=flooding)  # a token is back


@pytest.mark.parametrize(
    "scheduler_env",
    [{"OBZVON_MAX_CONTACTS_PER_UPLOAD": "300", "OBZVON_DEFAULT_MAX_CONTACTS_PER_CAMPAIGN": "400"}],
    indirect=True,
)
def test_uploads_and_campaigns_have_contact_limits(scheduler: grpc.Channel, devstack: DevStack) -> None:
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    key = create_tenant(scheduler, devstack)
    stub.CreateCampaign(campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign()), metadata=key)
    with pytest.raises(grpc.RpcError) as raised:
        stub.ImportContacts(upload("campaigns/c1", contacts(301)), metadata=key)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert {v.field for v in field_violations(raised.value)} == {"contacts"}
    assert stub.ImportContacts(upload("campaigns/c1", contacts(300)), metadata=key).imported == 300
    # The same contacts again are not new; 101 new ones are over the campaign's 400.
    assert stub.ImportContacts(upload("campaigns/c1", contacts(300)), metadata=key).imported == 300
    with pytest.raises(grpc.RpcError) as raised:
        stub.ImportContacts(upload("campaigns/c1", contacts(101, start=300)), metadata=key)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    listed = stub.ListContacts(campaigns_pb2.ListContactsRequest(campaign="campaigns/c1", page_size=500), metadata=key)
    assert len(listed.contacts) == 300
    # A tenant's own quota is tighter than the platform's default.
    small = create_tenant(scheduler, devstack, max_contacts_per_campaign=10)
    stub.CreateCampaign(campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign()), metadata=small)
    with pytest.raises(grpc.RpcError) as raised:
        stub.ImportContacts(upload("campaigns/c1", contacts(11)), metadata=small)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def test_a_large_upload_does_not_grow_the_schedulers_memory(scheduler: grpc.Channel, devstack: DevStack) -> None:
    # 40,000 rows of 1 KB each, the last one malformed: checked as they stream, held aside in Redis,
    # none stored. Before, every row was kept in the scheduler until the end (40+ MB).
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    key = create_tenant(scheduler, devstack)
    stub.CreateCampaign(campaigns_pb2.CreateCampaignRequest(campaign_id="c1", campaign=campaign()), metadata=key)
    pid = devstack.processes["scheduler"].pid
    warm = contacts(2000, note="x" * 1000)
    warm[-1].phone_number = "not a number"
    with pytest.raises(grpc.RpcError):
        stub.ImportContacts(upload("campaigns/c1", warm), metadata=key)
    before = _peak_rss_kib(pid)
    rows = contacts(40_000, note="x" * 1000)
    rows[-1].phone_number = "not a number"
    with pytest.raises(grpc.RpcError) as raised:
        stub.ImportContacts(upload("campaigns/c1", rows), metadata=key)
    assert {v.field for v in field_violations(raised.value)} == {"contacts[40000].phone_number"}
    grown_mib = (_peak_rss_kib(pid) - before) / 1024
    assert grown_mib < 15, f"the scheduler grew {grown_mib:.1f} MiB"
