"""API keys can be rotated and revoked (issue #10, item 12): a tenant holds at most two live keys, lists
them without their secrets, and a revoked key is refused at once; the tenant rotates its own, the admin any."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import grpc
import pytest
import redis
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, tenants_pb2, tenants_pb2_grpc
from obzvon_devstack.devstack import DevStack, bin_path

Metadata = list[tuple[str, str]]


def code(raised: pytest.ExceptionInfo[grpc.RpcError]) -> grpc.StatusCode:
    return raised.value.code()  # type: ignore[attr-defined, no-any-return]


def create_tenant(stub: tenants_pb2_grpc.TenantServiceStub, admin: Metadata) -> tenants_pb2.CreateTenantResponse:
    return stub.CreateTenant(  # type: ignore[no-any-return]
        tenants_pb2.CreateTenantRequest(
            tenant_id=f"t-{uuid.uuid4().hex[:8]}",
            tenant=tenants_pb2.Tenant(display_name="Acme", caller_ids=["+74950000000"]),
        ),
        metadata=admin,
    )


def works(scheduler: grpc.Channel, secret: str) -> bool:
    """Does a tenant call with this key get through authentication?"""
    try:
        campaigns_pb2_grpc.CampaignServiceStub(scheduler).ListCampaigns(
            campaigns_pb2.ListCampaignsRequest(), metadata=[("x-api-key", secret)]
        )
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        return False
    return True


def test_tenant_rotates_its_own_key(scheduler: grpc.Channel, devstack: DevStack, test_redis: str) -> None:
    stub = tenants_pb2_grpc.TenantServiceStub(scheduler)
    admin = [("x-api-key", devstack.admin_api_key)]
    created = create_tenant(stub, admin)
    tenant = created.tenant.name
    first = [("x-api-key", created.api_key)]
    assert created.key.name == f"{tenant}/apiKeys/{created.key.key_id}" and created.key.key_id

    listed = stub.ListApiKeys(tenants_pb2.ListApiKeysRequest(parent=tenant), metadata=first).api_keys
    assert [k.name for k in listed] == [created.key.name] and listed[0].create_time.seconds > 0
    assert created.api_key not in str(listed)

    # Rotation: a second key, both live; a third is refused.
    second = stub.CreateApiKey(tenants_pb2.CreateApiKeyRequest(parent=tenant), metadata=first)
    assert second.secret and second.secret != created.api_key and second.api_key.name.startswith(f"{tenant}/apiKeys/")
    assert works(scheduler, created.api_key) and works(scheduler, second.secret)
    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateApiKey(tenants_pb2.CreateApiKeyRequest(parent=tenant), metadata=first)
    assert code(raised) == grpc.StatusCode.FAILED_PRECONDITION
    listed = stub.ListApiKeys(tenants_pb2.ListApiKeysRequest(), metadata=first).api_keys  # empty parent: its own
    assert sorted(k.key_id for k in listed) == sorted([created.key.key_id, second.api_key.key_id])

    # Another tenant can neither see, nor add to, nor revoke these keys.
    other_created = create_tenant(stub, admin)
    other = [("x-api-key", other_created.api_key)]
    for call, request in (
        (stub.ListApiKeys, tenants_pb2.ListApiKeysRequest(parent=tenant)),
        (stub.CreateApiKey, tenants_pb2.CreateApiKeyRequest(parent=tenant)),
        (stub.RevokeApiKey, tenants_pb2.RevokeApiKeyRequest(name=created.key.name)),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call(request, metadata=other)
        assert code(raised) == grpc.StatusCode.NOT_FOUND
    assert works(scheduler, created.api_key)

    # Revoking the old key with the new one: the old key is refused at once, the new one keeps working.
    stub.RevokeApiKey(tenants_pb2.RevokeApiKeyRequest(name=created.key.name), metadata=[("x-api-key", second.secret)])
    assert not works(scheduler, created.api_key)
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListApiKeys(tenants_pb2.ListApiKeysRequest(), metadata=first)
    assert code(raised) == grpc.StatusCode.UNAUTHENTICATED
    assert works(scheduler, second.secret)
    with pytest.raises(grpc.RpcError) as raised:
        stub.RevokeApiKey(
            tenants_pb2.RevokeApiKeyRequest(name=created.key.name), metadata=[("x-api-key", second.secret)]
        )
    assert code(raised) == grpc.StatusCode.NOT_FOUND
    # A tenant cannot lock itself out by revoking its last key.
    with pytest.raises(grpc.RpcError) as raised:
        stub.RevokeApiKey(
            tenants_pb2.RevokeApiKeyRequest(name=second.api_key.name), metadata=[("x-api-key", second.secret)]
        )
    assert code(raised) == grpc.StatusCode.FAILED_PRECONDITION
    assert works(scheduler, second.secret)

    # Only hashes are stored: no secret appears anywhere in Redis.
    r = redis.Redis.from_url(test_redis)
    for k in r.scan_iter(match="apikey*"):
        kind = r.type(k)
        values = [r.get(k)] if kind == b"string" else list(r.hgetall(k).values()) if kind == b"hash" else []
        for value in values:
            assert created.api_key.encode() not in (value or b"") and second.secret.encode() not in (value or b"")


def test_admin_rotates_and_revokes_a_tenants_keys(scheduler: grpc.Channel, devstack: DevStack) -> None:
    stub = tenants_pb2_grpc.TenantServiceStub(scheduler)
    admin = [("x-api-key", devstack.admin_api_key)]
    created = create_tenant(stub, admin)
    tenant = created.tenant.name

    with pytest.raises(grpc.RpcError) as raised:  # the admin names the tenant
        stub.CreateApiKey(tenants_pb2.CreateApiKeyRequest(), metadata=admin)
    assert code(raised) == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateApiKey(tenants_pb2.CreateApiKeyRequest(parent="tenants/no-such-tenant"), metadata=admin)
    assert code(raised) == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as raised:
        stub.RevokeApiKey(tenants_pb2.RevokeApiKeyRequest(name=f"{tenant}/keys"), metadata=admin)
    assert code(raised) == grpc.StatusCode.INVALID_ARGUMENT

    issued = stub.CreateApiKey(tenants_pb2.CreateApiKeyRequest(parent=tenant), metadata=admin)
    assert len(stub.ListApiKeys(tenants_pb2.ListApiKeysRequest(parent=tenant), metadata=admin).api_keys) == 2
    # A leaked key: the admin revokes both, even the last one, and each is refused at once.
    stub.RevokeApiKey(tenants_pb2.RevokeApiKeyRequest(name=created.key.name), metadata=admin)
    assert not works(scheduler, created.api_key) and works(scheduler, issued.secret)
    stub.RevokeApiKey(tenants_pb2.RevokeApiKeyRequest(name=issued.api_key.name), metadata=admin)
    assert not works(scheduler, issued.secret)
    assert not stub.ListApiKeys(tenants_pb2.ListApiKeysRequest(parent=tenant), metadata=admin).api_keys
    fresh = stub.CreateApiKey(tenants_pb2.CreateApiKeyRequest(parent=tenant), metadata=admin)
    assert works(scheduler, fresh.secret)


def test_cli_rotates_a_key(scheduler: grpc.Channel, devstack: DevStack) -> None:
    created = create_tenant(tenants_pb2_grpc.TenantServiceStub(scheduler), [("x-api-key", devstack.admin_api_key)])

    def obzvon(*args: str, key: str) -> dict[str, object]:
        env = {**os.environ, "OBZVON_SCHEDULER_ADDR": devstack.scheduler_addr, "OBZVON_API_KEY": key}
        done = subprocess.run([bin_path("obzvon"), *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    issued = obzvon("key", "create", key=created.api_key)
    secret = str(issued["secret"])
    listed = obzvon("key", "list", key=secret)
    assert len(listed["apiKeys"]) == 2 and secret not in json.dumps(listed)  # type: ignore[arg-type]
    obzvon("key", "revoke", created.key.name, key=secret)
    assert not works(scheduler, created.api_key) and works(scheduler, secret)
