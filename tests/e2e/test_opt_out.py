"""Opt-out inside the call: «не звоните мне больше» puts the number on the tenant's DNC at once, the robot
confirms and hangs up, and the tenant's next campaign skips the number with `blocked: DNC`."""

from __future__ import annotations

import uuid

import grpc
import pytest
from obzvon.v1 import dnc_pb2
from obzvon_devstack.demo import ApiClient, read_ground_truth
from obzvon_devstack.devstack import DevStack, free_port, numbers_awake_now, start_phonesim, stop_process


def test_opt_out_in_call_blocks_the_next_campaign(devstack: DevStack) -> None:
    sim_port = free_port(kind=2)
    devstack.workdir.mkdir(parents=True, exist_ok=True)
    ground_truth = devstack.workdir / "ground-truth.jsonl"
    opting_out, agreeing, newcomer = numbers_awake_now(3)
    rules = (f"{opting_out.lstrip('+')}=optout", f"{agreeing.lstrip('+')}=yes", f"{newcomer.lstrip('+')}=yes")
    sim = start_phonesim(devstack.workdir, sim_port=sim_port, ground_truth=ground_truth, mix="yes=1", rules=rules)
    api = ApiClient(devstack)
    try:
        devstack.start()
        devstack.wait_ready()
        api.create_tenant(f"optout-{uuid.uuid4().hex[:8]}")
        api.create_campaign("first", sim_port=sim_port)
        assert api.import_contacts("first", [opting_out, agreeing]).imported == 2
        api.start("first")
        first = api.wait_finished("first", 2, timeout_s=180)

        listed = api.dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=opting_out), metadata=api.key)
        assert (listed.listed, listed.list, listed.source) == (True, "tenant", dnc_pb2.DNC_SOURCE_CALLEE_OPT_OUT)
        # The callee's own entry: the tenant cannot remove it.
        with pytest.raises(grpc.RpcError) as refused:
            api.dnc.RemoveDncNumbers(dnc_pb2.RemoveDncNumbersRequest(phone_numbers=[opting_out]), metadata=api.key)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
        assert not api.dnc.CheckDncNumber(dnc_pb2.CheckDncNumberRequest(phone_number=agreeing), metadata=api.key).listed

        api.create_campaign("second", sim_port=sim_port)
        imported = api.import_contacts("second", [opting_out, newcomer])
        api.start("second")
        second = api.wait_finished("second", 2, timeout_s=180)
        statuses = {c.phone_number: c.status for c in api.contacts("second")}
    finally:
        api.close()
        stop_process(sim)

    assert (first.opted_out, first.yes, first.answered) == (1, 1, 2)
    assert first.outcomes["opted out"] == 1
    assert imported.imported == 1
    assert [r.reason.split(" (")[0] for r in imported.rejected] == ["blocked: DNC"]
    assert imported.rejected[0].row == 1
    assert statuses[opting_out] == "blocked: DNC"
    assert (second.blocked, second.outcomes["blocked: DNC"], second.attempts) == (1, 1, 1)

    calls = read_ground_truth(ground_truth, {opting_out.lstrip("+")}).calls
    assert len(calls) == 1  # called once, by the first campaign, never again
    call = calls[0]
    assert call["replied"] is True and call["ended_by"] == "robot"
