"""A campaign of N contacts end to end on the local stack (all five services, the phone simulator).

Prints one JSON line: contacts, wall seconds from start to the last final report, answered calls per
minute, and whether the report matched the phones' ground truth. Needs Kafka and Redis up
(`make stack`). N and concurrency: BENCH_CONTACTS (30), BENCH_MAX_CALLS (10).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from obzvon.demo import ApiClient, read_ground_truth
from obzvon.devstack import DevStack, free_port, numbers_awake_now, start_phonesim, stop_process


def main() -> None:
    contacts = int(os.environ.get("BENCH_CONTACTS", "30"))
    # 10 at once is what one 2-core box running every service (and the phones) sustains; see docs.
    max_calls = int(os.environ.get("BENCH_MAX_CALLS", "10"))
    workdir = Path(tempfile.mkdtemp(prefix="obzvon-bench-"))
    sim_port = free_port(kind=2)
    ground_truth = workdir / "ground-truth.jsonl"
    numbers = numbers_awake_now(contacts)
    stack = DevStack(
        workdir=workdir,
        topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.",
        extra_env={"OBZVON_REDIS_URL": "redis://127.0.0.1:6379/2", "OBZVON_RING_TIMEOUT_S": "5"},
    )
    sim = start_phonesim(workdir, sim_port=sim_port, ground_truth=ground_truth, mix="yes=0.7,no=0.3")
    api = ApiClient(stack)
    try:
        stack.start()
        stack.wait_ready()
        api.create_tenant(f"bench-{uuid.uuid4().hex[:8]}")
        api.create_campaign("bench", sim_port=sim_port, max_calls=max_calls)
        api.import_contacts("bench", numbers)
        started = time.monotonic()
        api.start("bench")
        report = api.wait_finished("bench", contacts, timeout_s=900)
        wall_s = time.monotonic() - started
    finally:
        api.close()
        stack.stop()
        stop_process(sim)
    truth = read_ground_truth(ground_truth, {n.lstrip("+") for n in numbers})
    print(
        json.dumps(
            {
                "bench": "campaign_throughput",
                "contacts": contacts,
                "max_concurrent_calls": max_calls,
                "wall_s": round(wall_s, 1),
                "answered": report.answered,
                "answered_calls_per_min": round(report.answered / wall_s * 60, 1),
                "yes": report.yes,
                "ground_truth_yes": truth.yes,
                "outcomes": dict(report.outcomes),
                "matches_ground_truth": (report.attempts, report.answered, report.yes)
                == (truth.attempts, truth.answered, truth.yes),
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
