"""RFC 3261 timer behaviour that aiosipua lacks, checked against a silent or lossy peer."""

from __future__ import annotations

import asyncio

import pytest
from aiosipua import SipMessage, SipRequest
from media_helpers import LOOPBACK
from obzvon.sip import CallFailed, IncomingCall, SipTrunk, SipUas


class _Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.times: list[float] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.times.append(asyncio.get_running_loop().time())


async def test_invite_is_retransmitted_then_times_out_408() -> None:
    loop = asyncio.get_running_loop()
    transport, rec = await loop.create_datagram_endpoint(_Recorder, local_addr=(LOOPBACK, 0))
    port = transport.get_extra_info("sockname")[1]
    trunk = await SipTrunk.start(t1=0.05)  # Timer B = 64*T1 = 3.2 s
    t0 = loop.time()
    try:
        with pytest.raises(CallFailed) as ei:
            await trunk.invite(f"sip:x@127.0.0.1:{port}", from_user="bot", rtp_port=40000, ring_timeout_s=10)
    finally:
        await trunk.close()
        transport.close()
    took = loop.time() - t0
    assert ei.value.sip_code == 408
    assert 3.1 <= took < 4.0
    # Timer A doubles from T1: sends at 0, .05, .15, .35, .75, 1.55, 3.15 s
    assert len(rec.times) == 7
    gaps = [b - a for a, b in zip(rec.times, rec.times[1:], strict=False)]
    assert all(abs(g - 0.05 * 2**i) < 0.05 for i, g in enumerate(gaps)), gaps


async def test_lost_invite_is_recovered_by_retransmission() -> None:
    seen = 0

    async def handler(call: IncomingCall) -> None:
        call.ring()
        await call.reject(486)

    uas = await SipUas.start(handler)
    ep = uas.endpoint
    orig = ep._on_datagram

    def lossy(data: bytes, addr: tuple[str, int]) -> None:
        nonlocal seen
        msg = SipMessage.parse(data)
        if isinstance(msg, SipRequest) and msg.method == "INVITE":
            seen += 1
            if seen == 1:
                return  # the first INVITE is lost on the wire
        orig(data, addr)

    # put a lossy filter between the socket and the endpoint
    ep._transport.get_protocol().sink = lossy  # type: ignore[attr-defined]
    trunk = await SipTrunk.start(t1=0.1)
    try:
        with pytest.raises(CallFailed) as ei:
            await trunk.invite(f"sip:y@127.0.0.1:{uas.local_port}", from_user="bot", rtp_port=40000, ring_timeout_s=3)
    finally:
        await trunk.close()
        await uas.close()
    assert ei.value.sip_code == 486
    assert seen == 2


def test_trunk_rtp_and_uas_work_under_uvloop() -> None:
    # aiosipua's own transport asserts isinstance(DatagramTransport), which uvloop's is not.
    import uvloop
    from media_helpers import tone
    from obzvon.media import MediaClock, RtpSession
    from obzvon.media.g711 import rms

    async def scenario() -> int:
        clock = MediaClock()

        async def handler(call: IncomingCall) -> None:
            call.ring()
            rtp = await RtpSession.open(clock)
            assert call.remote_rtp is not None
            if await call.answer(rtp.local_port):
                assert call.payload_type is not None
                rtp.connect(call.remote_rtp, call.payload_type)
                await rtp.play(tone(0.5))
                await call.wait_bye(3)
            await rtp.close()

        uas = await SipUas.start(handler)
        trunk = await SipTrunk.start()
        rtp = await RtpSession.open(clock)
        heard: list[bytes] = []
        rtp.on_frame = heard.append
        try:
            call = await trunk.invite(
                f"sip:u@127.0.0.1:{uas.local_port}",
                from_user="bot",
                rtp_port=rtp.local_port,
                ring_timeout_s=3,
            )
            rtp.connect(call.remote_rtp, call.payload_type)
            await asyncio.sleep(0.8)
            await call.hangup()
        finally:
            await rtp.close()
            await trunk.close()
            await uas.close()
            await clock.close()
        return len([f for f in heard if rms(f) > 1000])

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.get_loop().__class__.__module__.startswith("uvloop")
        assert runner.run(scenario()) >= 20
