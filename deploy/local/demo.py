"""`make demo`: one campaign of 10 contacts end to end on the local stack, compared with ground truth.

Starts the five services and the phone simulator as processes on 127.0.0.1 (Kafka and Redis must be
up: deploy/local/stack.sh start), runs the campaign through the public gRPC API, prints the report,
and ends with one JSON line: {"attempts", "answered", "yes", "matches_ground_truth"}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from obzvon_devstack.demo import run_campaign
from obzvon_devstack.devstack import DevStack, free_port, start_phonesim, stop_process

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    run_id = time.strftime("%Y%m%d-%H%M%S")
    workdir = ROOT / ".local" / "demo" / run_id
    workdir.mkdir(parents=True, exist_ok=True)
    sim_port = free_port(kind=2)  # SOCK_DGRAM: SIP over UDP
    ground_truth = workdir / "ground-truth.jsonl"
    stack = DevStack(
        workdir=workdir,
        topic_prefix=f"demo-{run_id}.",
        extra_env={"OBZVON_RING_TIMEOUT_S": "6", "OBZVON_MAX_CALL_S": "120"},
    )
    sim = start_phonesim(
        workdir, sim_port=sim_port, ground_truth=ground_truth, mix="yes=0.5,no=0.2,busy=0.1,no_answer=0.2", seed=7
    )
    print(f"logs: {workdir}", file=sys.stderr)
    try:
        stack.start()
        stack.wait_ready()
        print(
            f"services up: scheduler, dialer, tts, asr, reporting; phone simulator on 127.0.0.1:{sim_port}",
            file=sys.stderr,
        )
        print(f"dashboard (while the demo runs; the tenant's API key opens it): {stack.dashboard_url}", file=sys.stderr)
        result = run_campaign(
            stack,
            sim_port=sim_port,
            ground_truth=ground_truth,
            tenant_id=f"clinic-{run_id}",
            log=lambda m: print(m, file=sys.stderr),
        )
    finally:
        stack.stop()
        stop_process(sim)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    r = result["report"]
    print(
        json.dumps(
            {
                "attempts": r["attempts"],
                "answered": r["answered"],
                "yes": r["yes"],
                "matches_ground_truth": result["matches_ground_truth"],
            }
        )
    )
    return 0 if result["matches_ground_truth"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
