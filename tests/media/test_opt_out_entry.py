"""The dialer writes a callee's opt-out as the callee's own DNC entry, which the tenant cannot remove
(issue #10, item 1). Real SIP and RTP on loopback through `place`; the callee presses 9."""

from __future__ import annotations

import asyncio

import pytest
from dialer_call import AsrStandIn, attempt, call, dialer, phone
from obzvon.compliance import CalleeOptOutError, DncSource
from obzvon.media import MediaClock
from obzvon.script import load_script_yaml

pytestmark = pytest.mark.stack

SCRIPT = load_script_yaml("""
start: confirm
nodes:
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: bye, no: bye, no_input: bye}}
  bye: {hangup: "До свидания"}
""")


async def test_key_nine_makes_an_entry_the_tenant_cannot_remove(test_redis: str, clock: MediaClock) -> None:
    async with phone(clock) as p, dialer(test_redis, clock, AsrStandIn()) as d:
        request = await attempt(d, p.port, SCRIPT, {"Вы придёте": 2.0}, default_s=0.4)
        events, placing = await call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        await asyncio.sleep(0.8)
        callee.rtp.send_dtmf("9")
        await asyncio.wait_for(placing, 6)
    assert events.outcome == "opted out"
    hit = await d.dnc.check(request.phone_number, request.tenant_id)
    assert hit is not None and hit.scope == "tenant"
    assert (hit.entry.source, hit.entry.attempt) == (DncSource.CALLEE_OPT_OUT, request.attempt_id)
    with pytest.raises(CalleeOptOutError):
        await d.dnc.remove(request.phone_number, request.tenant_id)
