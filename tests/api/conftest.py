"""A scheduler process for the API tests, and tenants created through its admin API."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import grpc
import pytest
from obzvon.v1 import tenants_pb2, tenants_pb2_grpc
from obzvon_devstack.devstack import DevStack, wait_healthy

Metadata = list[tuple[str, str]]


@pytest.fixture
def scheduler(devstack: DevStack) -> Iterator[grpc.Channel]:
    # Short attempt deadlines, so a lost attempt is closed within a test's patience.
    devstack.extra_env.update({"OBZVON_DIAL_WINDOW_S": "2", "OBZVON_MAX_CALL_S": "3"})
    devstack.start("scheduler")
    wait_healthy(devstack.scheduler_addr, 60)
    with grpc.insecure_channel(devstack.scheduler_addr) as channel:
        yield channel


@pytest.fixture
def new_tenant(scheduler: grpc.Channel, devstack: DevStack) -> Callable[[], Metadata]:
    """Creates a tenant (caller id +74950000000) and returns the metadata carrying its API key."""

    def create() -> Metadata:
        response = tenants_pb2_grpc.TenantServiceStub(scheduler).CreateTenant(
            tenants_pb2.CreateTenantRequest(
                tenant_id=f"t-{uuid.uuid4().hex[:8]}",
                tenant=tenants_pb2.Tenant(display_name="Acme", caller_ids=["+74950000000"]),
            ),
            metadata=[("x-api-key", devstack.admin_api_key)],
        )
        return [("x-api-key", response.api_key)]

    return create
