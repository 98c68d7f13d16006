"""The dialer's SIP client against peers a carrier or an attacker runs (issue #12).

Each peer is a real UDP socket on loopback: a scripted Python peer where the message order or
content is the point (names in Record-Route/Contact, forked 200s, a BYE racing the 200, foreign
tags, bad SDP), and SIPp for digest authentication (tests/media/sipp/uas_digest_*.xml).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvloop
from aiosipua import SipMessage, SipRequest, SipResponse
from aiosipua.auth import SipDigestAuth
from media_helpers import LOOPBACK, free_udp_port
from obzvon.sip import CallFailed, SipTrunk
from obzvon.sip.uac import FailureCause, OutboundCall
from test_sip_peers import need, process

SIPP_DIR = Path(__file__).parent / "sipp"
Addr = tuple[str, int]
WAIT_S = 3.0  # for one message on loopback


class Peer(asyncio.DatagramProtocol):
    """A scripted SIP peer: what it received, in order, and raw sends."""

    def __init__(self) -> None:
        self.unread: list[tuple[SipMessage, Addr]] = []
        self.arrived = asyncio.Event()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.unread.append((SipMessage.parse(data), (str(addr[0]), int(addr[1]))))
        self.arrived.set()

    def send(self, text: str, addr: Addr) -> None:
        assert self.transport is not None
        self.transport.sendto(text.replace("\n", "\r\n").encode(), addr)

    async def _take(self, wanted: Callable[[SipMessage], bool]) -> tuple[SipMessage, Addr]:
        """The first unread message `wanted` accepts; the others stay unread."""
        async with asyncio.timeout(WAIT_S):
            while True:
                for i, (msg, addr) in enumerate(self.unread):
                    if wanted(msg):
                        del self.unread[i]
                        return msg, addr
                self.arrived.clear()
                await self.arrived.wait()

    async def request(self, method: str) -> tuple[SipRequest, Addr]:
        msg, addr = await self._take(lambda m: isinstance(m, SipRequest) and m.method == method)
        assert isinstance(msg, SipRequest)
        return msg, addr

    async def response(self) -> SipResponse:
        msg, _ = await self._take(lambda m: isinstance(m, SipResponse))
        assert isinstance(msg, SipResponse)
        return msg

    def requests(self, method: str) -> list[SipRequest]:
        return [m for m, _ in self.unread if isinstance(m, SipRequest) and m.method == method]


@asynccontextmanager
async def peer() -> AsyncIterator[Peer]:
    loop = asyncio.get_running_loop()
    transport, p = await loop.create_datagram_endpoint(Peer, local_addr=(LOOPBACK, 0))
    p.port = transport.get_extra_info("sockname")[1]
    try:
        yield p
    finally:
        transport.close()


def answer_sdp(host: str = LOOPBACK, port: int = 40002) -> str:
    lines = ["v=0", "o=peer 1 1 IN IP4 127.0.0.1", "s=-", f"c=IN IP4 {host}", "t=0 0"]
    return "\n".join([*lines, f"m=audio {port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", ""])


def reply(invite: SipRequest, code: int, reason: str, to_tag: str, headers: tuple[str, ...] = (), sdp: str = "") -> str:
    """A response to `invite` as a UAS writes it (Vias, From, Call-ID and CSeq copied)."""
    lines = [f"SIP/2.0 {code} {reason}"]
    lines += [f"Via: {v}" for v in invite.headers.get("via")]
    lines += [
        f"From: {invite.headers.get_first('from')}",
        f"To: {invite.headers.get_first('to')};tag={to_tag}",
        f"Call-ID: {invite.call_id}",
        f"CSeq: {invite.headers.get_first('cseq')}",
        *headers,
    ]
    if sdp:
        lines += ["Content-Type: application/sdp", f"Content-Length: {len(sdp.replace(chr(10), chr(13) + chr(10)))}"]
    else:
        lines += ["Content-Length: 0"]
    return "\n".join(lines) + "\n\n" + sdp


def in_dialog(method: str, invite: SipRequest, *, from_tag: str, to_tag: str, via_port: int, cseq: int = 1) -> str:
    """A request from the callee's side into the dialog `invite` started, with the tags given."""
    caller = (invite.headers.get_first("from") or "").split(";")[0]
    callee = (invite.headers.get_first("to") or "").split(";")[0]
    return (
        f"{method} {caller.strip('<>')} SIP/2.0\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{via_port};branch=z9hG4bK{uuid.uuid4().hex[:12]}\n"
        f"From: {callee};tag={from_tag}\nTo: {caller};tag={to_tag}\n"
        f"Call-ID: {invite.call_id}\nCSeq: {cseq} {method}\nMax-Forwards: 70\nContent-Length: 0\n\n"
    )


def tag_of(header: str | None) -> str:
    m = re.search(r";\s*tag=([^;>\s]+)", header or "")
    return m.group(1) if m else ""


@dataclass
class Placed:
    """An INVITE in flight from our trunk to a scripted peer."""

    trunk: SipTrunk
    task: asyncio.Task[OutboundCall]
    invite: SipRequest
    our_addr: Addr

    @property
    def our_tag(self) -> str:
        return tag_of(self.invite.headers.get_first("from"))


@asynccontextmanager
async def placed(
    p: Peer, *, credentials: SipDigestAuth | None = None, ring_timeout_s: float = 5
) -> AsyncIterator[Placed]:
    trunk = await SipTrunk.start(t1=0.1)
    task = asyncio.create_task(
        trunk.invite(
            f"sip:callee@127.0.0.1:{p.port}",
            from_user="bot",
            rtp_port=40000,
            ring_timeout_s=ring_timeout_s,
            credentials=credentials,
        )
    )
    try:
        invite, addr = await p.request("INVITE")
        yield Placed(trunk, task, invite, addr)
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await trunk.close()


def run_under_uvloop(scenario: Callable[[], Awaitable[None]]) -> None:
    """The dialer runs on uvloop, whose sendto refuses host names (the stdlib's would block)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())  # type: ignore[arg-type]


# -- 1. names in Record-Route and Contact --------------------------------------------------------


def test_hostnames_in_record_route_and_contact_are_resolved() -> None:
    async def scenario() -> None:
        async with peer() as p, placed(p) as c:
            route = f"<sip:localhost:{p.port};lr>"
            headers = (f"Record-Route: {route}", f"Contact: <sip:callee@localhost:{p.port}>")
            p.send(reply(c.invite, 200, "OK", "edge1", headers, answer_sdp()), c.our_addr)
            ack, _ = await p.request("ACK")
            assert ack.headers.get_first("route") == route  # loose routing through the edge proxy
            call = await c.task
            assert call.hop == (LOOPBACK, p.port)
            hangup = asyncio.create_task(call.hangup())
            bye, addr = await p.request("BYE")
            assert tag_of(bye.headers.get_first("to")) == "edge1"
            p.send(reply(bye, 200, "OK", "edge1"), addr)
            await hangup

    run_under_uvloop(scenario)


def test_unresolvable_contact_still_gets_ack_and_bye() -> None:
    async def scenario() -> None:
        async with peer() as p, placed(p) as c:
            headers = ("Contact: <sip:callee@no-such-host.invalid:5060>",)
            p.send(reply(c.invite, 200, "OK", "gone1", headers, answer_sdp()), c.our_addr)
            await p.request("ACK")  # via the trunk address it came from
            bye, addr = await p.request("BYE")
            assert tag_of(bye.headers.get_first("to")) == "gone1"
            p.send(reply(bye, 200, "OK", "gone1"), addr)
            with pytest.raises(CallFailed) as failed:
                await c.task
            assert failed.value.cause is FailureCause.UNROUTABLE
            assert "no-such-host.invalid" in failed.value.reason

    run_under_uvloop(scenario)


# -- 2. dialog matching -------------------------------------------------------------------------


async def test_in_dialog_requests_need_call_id_and_both_tags() -> None:
    async with peer() as p, peer() as stranger, placed(p) as c:
        p.send(
            reply(c.invite, 200, "OK", "real1", (f"Contact: <sip:callee@127.0.0.1:{p.port}>",), answer_sdp()),
            c.our_addr,
        )
        await p.request("ACK")
        call = await c.task
        ours = c.our_tag
        # The live Call-ID with a tag that is not the callee's, from another port: not this call.
        stranger.send(in_dialog("BYE", c.invite, from_tag="evil", to_tag=ours, via_port=stranger.port), c.our_addr)
        assert (await stranger.response()).status_code == 481
        stranger.send(in_dialog("BYE", c.invite, from_tag="real1", to_tag="nope", via_port=stranger.port), c.our_addr)
        assert (await stranger.response()).status_code == 481
        stranger.send(
            in_dialog("SUBSCRIBE", c.invite, from_tag="real1", to_tag=ours, via_port=stranger.port), c.our_addr
        )
        refused = await stranger.response()
        assert refused.status_code == 405 and "BYE" in refused.headers.get("allow")
        stranger.send(in_dialog("FROB", c.invite, from_tag="real1", to_tag=ours, via_port=stranger.port), c.our_addr)
        assert (await stranger.response()).status_code == 501
        assert not call.remote_hangup.is_set() and call.active
        # The real callee's BYE still ends it.
        p.send(in_dialog("BYE", c.invite, from_tag="real1", to_tag=ours, via_port=p.port, cseq=2), c.our_addr)
        assert (await p.response()).status_code == 200
        assert call.remote_hangup.is_set()


# -- 3. forked answers --------------------------------------------------------------------------


async def test_second_forked_answer_is_acked_and_released() -> None:
    async with peer() as p, peer() as fork, placed(p) as c:
        p.send(reply(c.invite, 200, "OK", "keep1", (f"Contact: <sip:a@127.0.0.1:{p.port}>",), answer_sdp()), c.our_addr)
        p.send(
            reply(c.invite, 200, "OK", "fork2", (f"Contact: <sip:b@127.0.0.1:{fork.port}>",), answer_sdp()), c.our_addr
        )
        ack, _ = await p.request("ACK")
        assert tag_of(ack.headers.get_first("to")) == "keep1"
        fork_ack, _ = await fork.request("ACK")
        assert tag_of(fork_ack.headers.get_first("to")) == "fork2"
        bye, addr = await fork.request("BYE")
        assert tag_of(bye.headers.get_first("to")) == "fork2"
        fork.send(reply(bye, 200, "OK", "fork2"), addr)
        call = await c.task
        assert call.dialog.remote_tag == "keep1" and call.active
        await asyncio.sleep(0.2)
        assert not p.requests("BYE")


# -- 4. a BYE racing the 200 --------------------------------------------------------------------


@pytest.mark.parametrize("bye_first", [False, True], ids=["200-then-bye", "bye-then-200"])
def test_bye_arriving_with_the_200_ends_the_call(bye_first: bool) -> None:
    async def scenario() -> None:
        async with peer() as p, placed(p) as c:
            ok = reply(c.invite, 200, "OK", "brief1", (f"Contact: <sip:callee@127.0.0.1:{p.port}>",), answer_sdp())
            bye = in_dialog("BYE", c.invite, from_tag="brief1", to_tag=c.our_tag, via_port=p.port, cseq=2)
            for text in (bye, ok) if bye_first else (ok, bye):
                p.send(text, c.our_addr)
            assert (await p.response()).status_code == 200  # never 481 for the call that just answered
            await p.request("ACK")
            call = await c.task
            assert call.remote_hangup.is_set() and not call.active

    run_under_uvloop(scenario)


# -- 5. SDP answers we cannot send audio to -----------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "why"),
    [
        ("999.999.1.1", 40002, "not an IP address"),
        ("media.example.net", 40002, "not an IP address"),
        (LOOPBACK, 70000, "out of range"),
    ],
    ids=["bad-ip", "hostname", "port-70000"],
)
async def test_unusable_sdp_answer_is_refused_with_ack_and_bye(host: str, port: int, why: str) -> None:
    async with peer() as p, placed(p) as c:
        p.send(
            reply(c.invite, 200, "OK", "sdp1", (f"Contact: <sip:callee@127.0.0.1:{p.port}>",), answer_sdp(host, port)),
            c.our_addr,
        )
        await p.request("ACK")
        bye, addr = await p.request("BYE")
        p.send(reply(bye, 200, "OK", "sdp1"), addr)
        with pytest.raises(CallFailed) as failed:
            await c.task
        assert failed.value.cause is FailureCause.BAD_SDP
        assert why in failed.value.reason


# -- 7. digest authentication -------------------------------------------------------------------


async def run_sipp_trunk(
    scenario: str, password: str, credentials: SipDigestAuth | None, trace: Path
) -> tuple[object, str]:
    """Calls a SIPp UAS that challenges; the call (or the CallFailed) and SIPp's exit status and output."""
    sipp = need("sipp", "sip-tester")
    port = free_udp_port()
    argv = [sipp, "-sf", str(SIPP_DIR / scenario), "-i", LOOPBACK, "-p", str(port), "-mi", LOOPBACK]
    argv += ["-mp", str(free_udp_port(4)), "-m", "1", "-nostdin", "-trace_msg", "-message_file", str(trace)]
    argv += ["-key", "trunk_user", "obzvon", "-key", "trunk_password", password]
    async with process(*argv) as proc:
        await asyncio.sleep(0.3)
        trunk = await SipTrunk.start(t1=0.1)
        result: object
        try:
            call = await trunk.invite(
                f"sip:74951234567@127.0.0.1:{port}",
                from_user="bot",
                rtp_port=40000,
                ring_timeout_s=5,
                credentials=credentials,
            )
            await call.hangup()
            result = call
        except CallFailed as e:
            result = e
        finally:
            await trunk.close()
        rc = await asyncio.wait_for(proc.wait(), 15)
        out = (await proc.stdout.read()).decode(errors="replace") if proc.stdout else ""
    assert rc == 0, out[-1500:]
    return result, await asyncio.to_thread(trace.read_text, errors="replace")


def invites_sent(trace: str) -> list[str]:
    return [m for m in re.split(r"-{20,}", trace) if re.search(r"^\s*INVITE sip:", m, re.M)]


async def test_digest_401_is_answered_with_qop_auth(tmp_path: Path) -> None:
    creds = SipDigestAuth("obzvon", "s3cret")
    result, trace = await run_sipp_trunk("uas_digest_401.xml", "s3cret", creds, tmp_path / "sipp.log")
    assert not isinstance(result, CallFailed), result  # SIPp's verifyauth accepted the digest
    first, second = invites_sent(trace)
    assert re.search(r"^Call-ID: (.+)$", first, re.M).group(1) == re.search(r"^Call-ID: (.+)$", second, re.M).group(1)  # type: ignore[union-attr]
    cseqs = [int(re.search(r"^CSeq: (\d+) INVITE", m, re.M).group(1)) for m in (first, second)]  # type: ignore[union-attr]
    assert cseqs[1] == cseqs[0] + 1
    assert re.search(r"^Authorization: Digest .*qop=auth.*nc=00000001.*cnonce=", second, re.M)


async def test_digest_407_is_answered_with_proxy_authorization(tmp_path: Path) -> None:
    creds = SipDigestAuth("obzvon", "s3cret")
    result, trace = await run_sipp_trunk("uas_digest_407.xml", "s3cret", creds, tmp_path / "sipp.log")
    assert not isinstance(result, CallFailed), result
    second = invites_sent(trace)[1]
    header = re.search(r"^Proxy-Authorization: Digest (.+)$", second, re.M)
    assert header is not None
    params = dict(re.findall(r'(\w+)="?([^",]+)"?', header.group(1)))
    # RFC 2617 §3.2.2 with qop=auth, computed here independently of the code under test.
    ha1 = hashlib.md5(f"obzvon:{params['realm']}:s3cret".encode()).hexdigest()
    ha2 = hashlib.md5(f"INVITE:{params['uri']}".encode()).hexdigest()
    expected = hashlib.md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}".encode()).hexdigest()
    assert params["response"] == expected and params["opaque"] == "0p4q"


async def test_wrong_trunk_password_fails_as_trunk_auth(tmp_path: Path) -> None:
    creds = SipDigestAuth("obzvon", "not-the-password")
    result, trace = await run_sipp_trunk("uas_digest_401.xml", "s3cret", creds, tmp_path / "sipp.log")
    assert isinstance(result, CallFailed) and result.cause is FailureCause.AUTH_FAILED
    assert len(invites_sent(trace)) == 2  # answered once, never a loop


async def test_challenge_without_credentials_fails_as_trunk_auth() -> None:
    async with peer() as p, placed(p) as c:
        p.send(
            reply(
                c.invite,
                407,
                "Proxy Authentication Required",
                "px",
                ('Proxy-Authenticate: Digest realm="x", nonce="n1"',),
            ),
            c.our_addr,
        )
        with pytest.raises(CallFailed) as failed:
            await c.task
        assert failed.value.cause is FailureCause.AUTH_FAILED and failed.value.sip_code == 407
        await p.request("ACK")
