"""A callee's opt-out is for good: the tenant cannot remove it through the public API, only a new consent
record with evidence lifts it, and the audit shows who made each entry and every change (issue #10, item 1).

The callee-made entry is written by `DncRegistry.opt_out`, the library call the dialer makes when a callee
presses 9 or says «не звоните» (tests/e2e/test_opt_out.py covers a real call)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from obzvon.compliance import RedisDncRegistry
from obzvon.v1 import dnc_pb2, dnc_pb2_grpc, tenants_pb2, tenants_pb2_grpc
from obzvon_devstack.devstack import DevStack, numbers_awake_now
from redis.asyncio import Redis

Metadata = list[tuple[str, str]]


def create_tenant(scheduler: grpc.Channel, devstack: DevStack) -> tuple[str, Metadata]:
    tenant_id = f"t-{uuid.uuid4().hex[:8]}"
    response = tenants_pb2_grpc.TenantServiceStub(scheduler).CreateTenant(
        tenants_pb2.CreateTenantRequest(
            tenant_id=tenant_id, tenant=tenants_pb2.Tenant(display_name="Acme", caller_ids=["+74950000000"])
        ),
        metadata=[("x-api-key", devstack.admin_api_key)],
    )
    return tenant_id, [("x-api-key", response.api_key)]


async def callee_opts_out(redis_url: str, number: str, tenant_id: str, at: datetime) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await RedisDncRegistry(redis).opt_out(number, tenant_id, at=at, attempt="attempt-1")
    finally:
        await redis.aclose()


def code(raised: pytest.ExceptionInfo[grpc.RpcError]) -> grpc.StatusCode:
    return raised.value.code()  # type: ignore[attr-defined, no-any-return]


def details(raised: pytest.ExceptionInfo[grpc.RpcError]) -> str:
    return raised.value.details()  # type: ignore[attr-defined, no-any-return]


def consent(
    at: datetime, channel: str = "web-form", text: str = "Я согласен на звонки клиники"
) -> dnc_pb2.ConsentEvidence:
    ts = Timestamp()
    ts.FromDatetime(at)
    return dnc_pb2.ConsentEvidence(time=ts, channel=channel, text=text)


async def test_tenant_cannot_remove_a_callee_opt_out(
    scheduler: grpc.Channel, devstack: DevStack, test_redis: str
) -> None:
    tenant_id, key = create_tenant(scheduler, devstack)
    _other_id, other = create_tenant(scheduler, devstack)
    dnc = dnc_pb2_grpc.DncServiceStub(scheduler)
    opted_out, tenant_added = numbers_awake_now(2)
    opt_out_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    await callee_opts_out(test_redis, opted_out, tenant_id, opt_out_at)
    dnc.AddDncNumbers(
        dnc_pb2.AddDncNumbersRequest(phone_numbers=[tenant_added], reason="asked by e-mail"), metadata=key
    )

    # Who made the entry, and when, is visible to the tenant.
    check = dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=opted_out), metadata=key)
    assert (check.listed, check.list, check.source) == (True, "tenant", dnc_pb2.DNC_SOURCE_CALLEE_OPT_OUT)
    assert check.create_time.ToDatetime(UTC) == opt_out_at
    mine = dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=tenant_added), metadata=key)
    assert mine.source == dnc_pb2.DNC_SOURCE_TENANT

    # The tenant cannot remove it, alone or mixed with its own entries: the whole request is refused.
    for numbers in ([opted_out], [tenant_added, opted_out]):
        with pytest.raises(grpc.RpcError) as raised:
            dnc.RemoveDncNumbers(dnc_pb2.RemoveDncNumbersRequest(phone_numbers=numbers), metadata=key)
        assert code(raised) == grpc.StatusCode.FAILED_PRECONDITION
        assert "the callee asked not to be called (opt-out in call at" in details(raised)
        assert "only a new consent record with evidence can lift it" in details(raised)
        assert opted_out in details(raised) and tenant_added not in details(raised)
    for number in (opted_out, tenant_added):
        assert dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=number), metadata=key).listed

    # Adding it again as the tenant does not turn it into the tenant's own entry.
    assert dnc.AddDncNumbers(dnc_pb2.AddDncNumbersRequest(phone_numbers=[opted_out]), metadata=key).added == 0
    with pytest.raises(grpc.RpcError) as raised:
        dnc.RemoveDncNumbers(dnc_pb2.RemoveDncNumbersRequest(phone_numbers=[opted_out]), metadata=key)
    assert code(raised) == grpc.StatusCode.FAILED_PRECONDITION

    # Another tenant neither sees it nor can lift it.
    assert not dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=opted_out), metadata=other).listed
    with pytest.raises(grpc.RpcError) as raised:
        dnc.LiftOptOut(dnc_pb2.LiftOptOutRequest(phone_number=opted_out, consent=consent(opt_out_at)), metadata=other)
    assert code(raised) == grpc.StatusCode.NOT_FOUND

    # A lift needs evidence: time (not in the future, after the opt-out), channel and text.
    now = datetime.now(UTC)
    bad = {
        "consent.time": dnc_pb2.ConsentEvidence(channel="web-form", text="да"),
        "consent.channel": consent(now, channel=" "),
        "consent.text": consent(now, text=""),
    }
    for field, evidence in bad.items():
        with pytest.raises(grpc.RpcError) as raised:
            dnc.LiftOptOut(dnc_pb2.LiftOptOutRequest(phone_number=opted_out, consent=evidence), metadata=key)
        assert code(raised) == grpc.StatusCode.INVALID_ARGUMENT and field in details(raised), field
    absurd = dnc_pb2.ConsentEvidence(time=Timestamp(seconds=2**62), channel="web-form", text="да")
    for evidence in (consent(now + timedelta(hours=1)), consent(now, text="x" * 5000), absurd):
        with pytest.raises(grpc.RpcError) as raised:
            dnc.LiftOptOut(dnc_pb2.LiftOptOutRequest(phone_number=opted_out, consent=evidence), metadata=key)
        assert code(raised) == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as raised:  # consent older than the opt-out is not a new consent
        dnc.LiftOptOut(
            dnc_pb2.LiftOptOutRequest(phone_number=opted_out, consent=consent(opt_out_at - timedelta(days=1))),
            metadata=key,
        )
    assert code(raised) == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as raised:  # the tenant's own entry is removed, not lifted
        dnc.LiftOptOut(dnc_pb2.LiftOptOutRequest(phone_number=tenant_added, consent=consent(now)), metadata=key)
    assert code(raised) == grpc.StatusCode.FAILED_PRECONDITION
    assert dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=opted_out), metadata=key).listed

    # A new consent with evidence lifts it.
    given = now - timedelta(minutes=1)
    dnc.LiftOptOut(dnc_pb2.LiftOptOutRequest(phone_number=opted_out, consent=consent(given)), metadata=key)
    assert not dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=opted_out), metadata=key).listed
    assert (
        dnc.RemoveDncNumbers(dnc_pb2.RemoveDncNumbersRequest(phone_numbers=[tenant_added]), metadata=key).removed == 1
    )

    # The audit, newest first, pages through every change with who made the entry.
    records: list[dnc_pb2.DncAuditRecord] = []
    token = ""
    while True:
        page = dnc.ListDncAudit(dnc_pb2.ListDncAuditRequest(page_size=2, page_token=token), metadata=key)
        assert len(page.records) <= 2
        records.extend(page.records)
        token = page.next_page_token
        if not token:
            break
    trail = [(r.action, r.phone_number, r.source) for r in reversed(records)]
    A = S = dnc_pb2  # short names for the table below
    assert trail == [
        (A.DNC_ACTION_ADD, opted_out, S.DNC_SOURCE_CALLEE_OPT_OUT),
        (A.DNC_ACTION_ADD, tenant_added, S.DNC_SOURCE_TENANT),
        (A.DNC_ACTION_REMOVE_REFUSED, opted_out, S.DNC_SOURCE_CALLEE_OPT_OUT),
        (A.DNC_ACTION_REMOVE_REFUSED, opted_out, S.DNC_SOURCE_CALLEE_OPT_OUT),
        (A.DNC_ACTION_REMOVE_REFUSED, opted_out, S.DNC_SOURCE_CALLEE_OPT_OUT),
        (A.DNC_ACTION_LIFT, opted_out, S.DNC_SOURCE_CALLEE_OPT_OUT),
        (A.DNC_ACTION_REMOVE, tenant_added, S.DNC_SOURCE_TENANT),
    ]
    (tenants_add,) = [r for r in records if r.action == A.DNC_ACTION_ADD and r.phone_number == tenant_added]
    assert tenants_add.reason == "asked by e-mail"
    assert records[-1].attempt_id == "attempt-1" and records[-1].time.ToDatetime(UTC) == opt_out_at
    (lift,) = [r for r in records if r.action == A.DNC_ACTION_LIFT]
    assert (lift.consent.channel, lift.consent.text) == ("web-form", "Я согласен на звонки клиники")
    assert lift.consent.time.ToDatetime(UTC) == given.replace(microsecond=given.microsecond // 1000 * 1000)

    # The audit is the tenant's own; a made-up page token is a clear error.
    assert not dnc.ListDncAudit(dnc_pb2.ListDncAuditRequest(), metadata=other).records
    with pytest.raises(grpc.RpcError) as raised:
        dnc.ListDncAudit(dnc_pb2.ListDncAuditRequest(page_token="../../etc"), metadata=key)
    assert code(raised) == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as raised:
        dnc.ListDncAudit(dnc_pb2.ListDncAuditRequest(page_token="99999999999999999999-0"), metadata=key)
    assert code(raised) == grpc.StatusCode.INVALID_ARGUMENT


def test_global_list_changes_are_the_admins_and_audited(scheduler: grpc.Channel, devstack: DevStack) -> None:
    _tenant_id, key = create_tenant(scheduler, devstack)
    admin = [("x-api-key", devstack.admin_api_key)]
    dnc = dnc_pb2_grpc.DncServiceStub(scheduler)
    (number,) = numbers_awake_now(1)
    dnc.AddDncNumbers(
        dnc_pb2.AddDncNumbersRequest(phone_numbers=[number], reason="regulator list", **{"global": True}),
        metadata=admin,
    )
    check = dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=number), metadata=key)
    assert (check.list, check.source) == ("global", dnc_pb2.DNC_SOURCE_ADMIN)
    with pytest.raises(grpc.RpcError) as raised:
        dnc.ListDncAudit(dnc_pb2.ListDncAuditRequest(**{"global": True}), metadata=key)
    assert code(raised) == grpc.StatusCode.PERMISSION_DENIED
    assert not dnc.ListDncAudit(dnc_pb2.ListDncAuditRequest(), metadata=key).records
    request = dnc_pb2.RemoveDncNumbersRequest(phone_numbers=[number], **{"global": True})
    assert dnc.RemoveDncNumbers(request, metadata=admin).removed == 1
    records = dnc.ListDncAudit(dnc_pb2.ListDncAuditRequest(page_size=500, **{"global": True}), metadata=admin).records
    mine = [(r.action, r.source, r.reason) for r in records if r.phone_number == number]
    assert mine == [
        (dnc_pb2.DNC_ACTION_REMOVE, dnc_pb2.DNC_SOURCE_ADMIN, ""),
        (dnc_pb2.DNC_ACTION_ADD, dnc_pb2.DNC_SOURCE_ADMIN, "regulator list"),
    ]
