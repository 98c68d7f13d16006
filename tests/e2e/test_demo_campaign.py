"""The walking skeleton end to end: the demo campaign on real Kafka, Redis, SIP/RTP, Whisper and TTS."""

from __future__ import annotations

import json
import uuid

from obzvon_devstack.demo import run_campaign
from obzvon_devstack.devstack import DevStack, free_port, numbers_awake_now, start_phonesim, stop_process


def test_ten_contacts_report_equals_phone_ground_truth(devstack: DevStack) -> None:
    sim_port = free_port(kind=2)
    ground_truth = devstack.workdir / "ground-truth.jsonl"
    devstack.workdir.mkdir(parents=True, exist_ok=True)
    devstack.extra_env.update({"OBZVON_RING_TIMEOUT_S": "5", "OBZVON_MAX_CALL_S": "120"})
    numbers = numbers_awake_now(10)
    # Each behaviour is pinned to a number, so every branch is exercised on every run.
    behaviours = ["yes"] * 4 + ["no"] * 2 + ["press1", "press2", "busy", "no_answer"]
    rules = tuple(f"{n.lstrip('+')}={b}" for n, b in zip(numbers, behaviours, strict=True))
    sim = start_phonesim(devstack.workdir, sim_port=sim_port, ground_truth=ground_truth, mix="yes=1", rules=rules)
    try:
        devstack.start()
        devstack.wait_ready()
        result = run_campaign(
            devstack,
            sim_port=sim_port,
            ground_truth=ground_truth,
            contacts=10,
            tenant_id=f"e2e-{uuid.uuid4().hex[:8]}",
            timeout_s=300,
            numbers=numbers,
        )
    finally:
        stop_process(sim)
    report, truth = result["report"], result["ground_truth"]
    assert report["attempts"] == 10
    assert truth["attempts"] == 10
    assert (truth["answered"], truth["yes"]) == (8, 5), truth  # the pinned behaviours reached the phones
    assert (report["attempts"], report["answered"], report["yes"]) == (
        truth["attempts"],
        truth["answered"],
        truth["yes"],
    )
    assert result["matches_ground_truth"] is True
    assert report["completed"] + report["failed"] == 10
    assert report["no"] == 3  # two spoken «нет», one press of 2
    assert report["tags"].get("confirmed", 0) == truth["yes"]
    assert all(s.startswith(("completed", "failed")) for s in result["contact_statuses"])
    # The number dialled is the contact's number, at the configured trunk: every INVITE the phones
    # received is addressed (Request-URI and To) to one contact's number, at 127.0.0.1:sim_port.
    invites = [r for r in map(json.loads, ground_truth.read_text().splitlines()) if r["event"] == "invite"]
    assert sorted(r["request_user"] for r in invites) == sorted(n.lstrip("+") for n in numbers)
    for invite in invites:
        assert invite["request_uri"] == f"sip:{invite['request_user']}@127.0.0.1:{sim_port}", invite
        assert invite["to_number"] == invite["request_user"], invite
