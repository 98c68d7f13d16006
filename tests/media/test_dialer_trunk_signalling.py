"""The dialer's `place` against a real peer: ringing published at the first 180, and a trunk that asks
for digest authentication answered with the password from the campaign record (issue #12)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from dialer_call import AsrStandIn, dialer
from dialer_call import attempt as stored_attempt
from media_helpers import LOOPBACK, free_udp_port
from obzvon import keys
from obzvon.media import MediaClock
from obzvon.script import load_script_yaml
from obzvon.sip.trunk import TrunkCredentials
from obzvon.v1 import campaigns_pb2, events_pb2
from obzvon_dialer.call import place
from test_sip_hostile_peers import SIPP_DIR, peer, reply
from test_sip_peers import need, process

pytestmark = pytest.mark.stack
T = events_pb2.CallEventType
SCRIPT = load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n')


@dataclass
class Timeline:
    """Every call event in order, and whether RINGING came (AttemptEvents' interface)."""

    events: list[tuple[int, dict[str, object]]] = field(default_factory=list)
    rang: asyncio.Event = field(default_factory=asyncio.Event)

    async def emit(self, type_: int, **fields: object) -> None:
        self.events.append((type_, fields))
        if type_ == T.CALL_EVENT_TYPE_RINGING:
            self.rang.set()

    async def node_entered(self, node_id: str, tag: str) -> None:
        pass

    async def reply(self, node_id: str, reply: object) -> None:
        pass

    @property
    def types(self) -> list[int]:
        return [t for t, _ in self.events]


async def test_ringing_is_published_at_the_first_180(test_redis: str, clock: MediaClock) -> None:
    async with peer() as p, dialer(test_redis, clock, AsrStandIn(), ring_timeout_s=10) as d:
        request = await stored_attempt(d, p.port, SCRIPT, {}, default_s=0.3)
        events = Timeline()
        placing = asyncio.create_task(place(d.ctx, request, cast(Any, events)))
        try:
            invite, addr = await p.request("INVITE")
            p.send(reply(invite, 180, "Ringing", "ring1"), addr)
            # Published while the phone still rings, not when the INVITE ends.
            await asyncio.wait_for(events.rang.wait(), 2)
            assert T.CALL_EVENT_TYPE_FAILED not in events.types
            p.send(reply(invite, 486, "Busy Here", "ring1"), addr)
            await asyncio.wait_for(placing, 5)
        finally:
            placing.cancel()
            await asyncio.gather(placing, return_exceptions=True)
    assert events.types == [T.CALL_EVENT_TYPE_DIALING, T.CALL_EVENT_TYPE_RINGING, T.CALL_EVENT_TYPE_FAILED]
    assert events.events[1][1]["sip_code"] == 180 and events.events[2][1]["sip_code"] == 486


async def test_digest_trunk_gets_the_password_from_the_campaign_record(
    test_redis: str, clock: MediaClock, tmp_path: Path
) -> None:
    sipp = need("sipp", "sip-tester")
    port = free_udp_port()
    argv = [sipp, "-sf", str(SIPP_DIR / "uas_digest_401.xml"), "-i", LOOPBACK, "-p", str(port), "-mi", LOOPBACK]
    argv += ["-mp", str(free_udp_port(4)), "-m", "1", "-nostdin", "-key", "trunk_user", "obzvon"]
    argv += ["-key", "trunk_password", "s3cret"]
    async with process(*argv) as proc, dialer(test_redis, clock, AsrStandIn()) as d:
        await asyncio.sleep(0.3)
        d.ctx.trunk_credentials = TrunkCredentials(d.redis)
        request = await stored_attempt(d, port, SCRIPT, {}, default_s=0.3)
        # The DialRequest's trunk has the username only (dispatcher.dial_trunk); the campaign record
        # the scheduler stored has the password.
        request.trunk.username = "obzvon"
        stored = campaigns_pb2.Campaign(trunk=campaigns_pb2.Trunk(host=LOOPBACK, port=port, username="obzvon"))
        stored.trunk.password = "s3cret"
        key = keys.campaign(request.tenant_id, request.campaign_id)
        await d.redis.set(key, stored.SerializeToString(), ex=60)
        events = Timeline()
        try:
            await asyncio.wait_for(place(d.ctx, request, cast(Any, events)), 20)
        finally:
            await d.redis.delete(key)
        rc = await asyncio.wait_for(proc.wait(), 15)
        out = (await proc.stdout.read()).decode(errors="replace") if proc.stdout else ""
    assert T.CALL_EVENT_TYPE_ANSWERED in events.types, events.events
    assert rc == 0, out[-1500:]  # SIPp checked the digest (verifyauth) and got our BYE
