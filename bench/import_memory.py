"""The scheduler's memory during a large contact import (issue #10: it must not grow with the rows).

Streams BENCH_ROWS (1,000,000) contacts of about BENCH_ROW_BYTES (200) bytes each into a campaign of
a scheduler process on the local stack, the last row malformed, so every row is checked and held aside
in Redis and none is stored (storing a million contacts is a different cost: screening each against
the DNC lists). Prints one JSON line: rows, seconds, and the scheduler's peak RSS before and after.
The test suite runs the same with 40,000 rows (tests/abuse/test_stall.py). Needs `make stack`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
from obzvon.script import load_script_yaml
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc, tenants_pb2, tenants_pb2_grpc
from obzvon_devstack.devstack import DevStack, wait_healthy


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def rows(n: int, note: str) -> Iterator[campaigns_pb2.ImportContactsRequest]:
    batch: list[campaigns_pb2.Contact] = []
    for i in range(n):
        phone = f"+7495{i % 10_000_000:07d}" if i < n - 1 else "not a number"
        batch.append(campaigns_pb2.Contact(contact_id=f"k{i}", phone_number=phone, variables={"note": note}))
        if len(batch) == 500 or i == n - 1:
            yield campaigns_pb2.ImportContactsRequest(campaign="campaigns/bench", contacts=batch)
            batch = []


def main() -> None:
    n = int(os.environ.get("BENCH_ROWS", "1000000"))
    note = "x" * int(os.environ.get("BENCH_ROW_BYTES", "200"))
    stack = DevStack(
        workdir=Path(tempfile.mkdtemp(prefix="obzvon-bench-")),
        topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.",
        admin_api_key=f"admin-{uuid.uuid4().hex}",
        extra_env={"OBZVON_REDIS_URL": "redis://127.0.0.1:6379/2"},
    )
    try:
        stack.start("scheduler")
        wait_healthy(stack.scheduler_addr, 60)
        with grpc.insecure_channel(stack.scheduler_addr) as channel:
            created = tenants_pb2_grpc.TenantServiceStub(channel).CreateTenant(
                tenants_pb2.CreateTenantRequest(
                    tenant_id=f"bench-{uuid.uuid4().hex[:8]}",
                    tenant=tenants_pb2.Tenant(display_name="Bench", caller_ids=["+74950000000"]),
                ),
                metadata=[("x-api-key", stack.admin_api_key)],
            )
            key = [("x-api-key", created.api_key)]
            stub = campaigns_pb2_grpc.CampaignServiceStub(channel)
            stub.CreateCampaign(
                campaigns_pb2.CreateCampaignRequest(
                    campaign_id="bench",
                    campaign=campaigns_pb2.Campaign(
                        display_name="Bench",
                        purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
                        caller_id="+74950000000",
                        compliance_profile="default",
                        language="ru",
                        trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
                        script=load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n'),
                    ),
                ),
                metadata=key,
            )
            pid = stack.processes["scheduler"].pid
            before = peak_rss_mib(pid)
            started = time.monotonic()
            try:
                stub.ImportContacts(rows(n, note), metadata=key)
                outcome = "imported (unexpected: the last row is malformed)"
            except grpc.RpcError as e:
                outcome = e.code().name  # type: ignore[attr-defined]
            wall_s = time.monotonic() - started
            after = peak_rss_mib(pid)
    finally:
        stack.stop()
    print(
        json.dumps(
            {
                "bench": "import_memory",
                "rows": n,
                "row_bytes": len(note),
                "outcome": outcome,
                "wall_s": round(wall_s, 1),
                "peak_rss_mib_before": round(before, 1),
                "peak_rss_mib_after": round(after, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
