"""Outbound calls to a SIP trunk: INVITE with a G.711 offer, digest auth, ring timeout, CANCEL, BYE.

Fixes over aiosipua's SipUAC (sip-notes.md): requests are retransmitted (transport.py), non-2xx
finals are ACKed, ACK and BYE go to the first Record-Route hop (or the 2xx Contact), resolved by
name when a carrier names its proxies, 183 Session Progress SDP is reported as early media, a
401/407 challenge is answered once with the trunk's credentials (aiosipua's digest code), and
in-dialog requests are matched on Call-ID and both tags. A dialog that was answered is always
ACKed and BYE'd, whatever goes wrong after the 200 (bad SDP, a hop that does not resolve, a second
forked answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiosipua import Dialog, DialogState, SipRequest, SipResponse
from aiosipua.auth import SipDigestAuth, answer_challenge
from aiosipua.headers import CSeq, stringify_cseq
from aiosipua.utils import generate_call_id, generate_tag

from obzvon.sip import sdp
from obzvon.sip.transport import (
    REASONS,
    Addr,
    ClientTransaction,
    ServerTransaction,
    SipEndpoint,
    TransactionTimeout,
    UnresolvableHost,
    cseq_of,
    new_via,
    resolve,
    uri_addr,
)
from obzvon.sip.trunk import CalleeTarget

log = logging.getLogger(__name__)

# What an established dialog answers itself; the rest that SIP defines is refused with 405
# (RFC 3261 §8.2.1), anything else with 501.
ALLOWED_METHODS = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "UPDATE", "INFO")
KNOWN_METHODS = frozenset((*ALLOWED_METHODS, "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH", "REFER", "MESSAGE"))
ALLOW = ", ".join(ALLOWED_METHODS)


class FailureCause(enum.Enum):
    """Why an INVITE did not become a call the dialer can use."""

    FINAL_RESPONSE = "final response"  # the far end's non-2xx (or our 408/487): the code says which
    AUTH_FAILED = "trunk auth failed"  # 401/407 without credentials, or again after we answered it
    BAD_SDP = "bad SDP in answer"  # answered with media we cannot send to: ACKed and BYE'd at once
    UNROUTABLE = "answer not routable"  # the 200's next hop does not resolve: ACK and BYE via the trunk
    TRUNK_UNRESOLVED = "trunk host does not resolve"  # no INVITE was sent


class CallFailed(Exception):
    """The call was not answered (or its answer was refused): a SIP code, a cause and the detail."""

    def __init__(self, sip_code: int, reason: str, cause: FailureCause = FailureCause.FINAL_RESPONSE) -> None:
        super().__init__(f"{sip_code} {reason}")
        self.sip_code = sip_code
        self.reason = reason
        self.cause = cause


def _tag(addr_header: object) -> str:
    return (getattr(addr_header, "tag", None) or "") if addr_header is not None else ""


def method_refusal(method: str) -> int:
    """The response code for a method a dialog does not handle; 0 when it does."""
    if method in ALLOWED_METHODS:
        return 0
    return 405 if method in KNOWN_METHODS else 501


class OutboundCall:
    """An answered outbound call (confirmed dialog)."""

    def __init__(
        self,
        trunk: SipTrunk,
        dialog: Dialog,
        media: sdp.MediaOffer,
        payload_type: int,
        invite_txn: ClientTransaction,
        rtp_port: int,
        hop: Addr,
    ) -> None:
        self._trunk = trunk
        self.dialog = dialog
        self.call_id = dialog.call_id
        self.remote_rtp: tuple[str, int] = media.rtp
        self.payload_type = payload_type
        self.dtmf_payload_type: int | None = media.dtmf_pt
        self.remote_hangup = asyncio.Event()
        self.answered_at = time.time()
        self.early_media: tuple[str, int] | None = None
        self._invite_txn = invite_txn
        self._rtp_port = rtp_port
        self._bye_sent = False
        self.hop = hop  # resolved next hop for ACK and BYE (first route, else Contact, else the trunk)

    @property
    def active(self) -> bool:
        return self.dialog.state == DialogState.CONFIRMED

    def matches(self, req: SipRequest) -> bool:
        """Whether `req` belongs to this dialog: Call-ID and both tags (RFC 3261 §12.2.2)."""
        return (
            req.call_id == self.call_id
            and _tag(req.to_addr) == self.dialog.local_tag
            and _tag(req.from_addr) == self.dialog.remote_tag
        )

    async def hangup(self) -> None:
        """BYE (retransmitted per Timer E); returns when answered or timed out, never raises."""
        if not self.active or self._bye_sent:
            return
        self._bye_sent = True
        bye = self.dialog.create_request("BYE", via_host=self._trunk.local_addr[0], via_port=self._trunk.local_addr[1])
        self.dialog.terminate()
        txn = self._trunk.endpoint.request(bye, self.hop)
        try:
            resp = await txn.wait_final()
            if resp.status_code >= 300:
                log.info("BYE for %s answered %s", self.call_id, resp.status_code)
        except (TransactionTimeout, asyncio.CancelledError):
            log.info("BYE for %s got no answer", self.call_id)
        finally:
            if self._trunk._calls.get(self.call_id) is self:
                del self._trunk._calls[self.call_id]

    def remote_bye(self) -> None:
        self.dialog.terminate()
        self.remote_hangup.set()
        if self._trunk._calls.get(self.call_id) is self:
            del self._trunk._calls[self.call_id]

    def _on_request(self, stx: ServerTransaction) -> None:
        method = stx.request.method
        if method == "BYE":
            stx.respond(200)
            self.remote_bye()
        elif method == "INVITE":
            # Session refresh re-INVITE: keep the media as it is.
            body = sdp.offer(self._trunk.local_addr[0], self._rtp_port, (self.payload_type,))
            stx.respond(200, headers={"Contact": self._trunk.contact}, body=body.encode())
        elif method in ("OPTIONS", "UPDATE", "INFO"):
            stx.respond(200)
        elif method == "CANCEL":
            stx.respond(481)  # re-INVITEs are answered at once: nothing left to cancel


class _Inviting:
    """An INVITE in progress: a BYE for its 2xx may arrive before invite() has read that 2xx."""

    def __init__(self, local_tag: str) -> None:
        self.local_tag = local_tag
        self.txn: ClientTransaction | None = None
        # Forked answers' To tag -> their ACK and hop (None while the hop is being resolved).
        self.released: dict[str, tuple[SipRequest, Addr] | None] = {}
        self.hung_up: set[str] = set()  # remote tags whose BYE came before their 2xx was handled


class SipTrunk:
    """One UDP socket placing many concurrent outbound calls."""

    def __init__(self, endpoint: SipEndpoint, proxy: Addr | None, user_agent: str) -> None:
        self.endpoint = endpoint
        self.proxy = proxy
        self.user_agent = user_agent
        self._calls: dict[str, OutboundCall] = {}
        self._inviting: dict[str, _Inviting] = {}
        self._releases: set[asyncio.Task[None]] = set()
        endpoint.on_request = self._on_request

    @classmethod
    async def start(
        cls,
        local_host: str = "127.0.0.1",
        local_port: int = 0,
        *,
        proxy: Addr | None = None,
        t1: float = 0.5,
        user_agent: str = "Obzvon",
    ) -> SipTrunk:
        """`proxy`: send every request there (an outbound proxy / SBC) instead of to the URI host."""
        ep = await SipEndpoint.bind(local_host, local_port, t1=t1)
        return cls(ep, proxy, user_agent)

    @property
    def local_addr(self) -> Addr:
        return self.endpoint.local_addr

    @property
    def contact(self) -> str:
        return f"<sip:{self.local_addr[0]}:{self.local_addr[1]}>"

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def close(self) -> None:
        for call in list(self._calls.values()):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await call.hangup()
        for task in list(self._releases):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await task
        await self.endpoint.close()

    def _on_request(self, stx: ServerTransaction) -> None:
        req = stx.request
        method = req.method
        if method == "ACK":
            return
        if refusal := method_refusal(method):
            stx.respond(refusal, headers={"Allow": ALLOW} if refusal == 405 else None)
            return
        call = self._calls.get(req.call_id or "")
        if call is not None and call.matches(req):
            call._on_request(stx)
            return
        if method == "BYE" and self._bye_before_answer_read(req):
            stx.respond(200)
            return
        if method == "OPTIONS" and not _tag(req.to_addr):
            stx.respond(200, headers={"Allow": ALLOW})
            return
        # A foreign tag or an unknown Call-ID: never someone else's call (§12.2.2).
        stx.respond(481)

    def _bye_before_answer_read(self, req: SipRequest) -> bool:
        """A BYE for our INVITE in progress (To tag ours) that raced its 2xx, either way round.

        The far end answered and hung up at once; answering 481 would leave the robot talking to a
        dead line. The BYE is answered 200 and the dialog its From tag names ends when its 2xx is read.
        """
        inviting = self._inviting.get(req.call_id or "")
        remote_tag = _tag(req.from_addr)
        if inviting is None or not remote_tag or _tag(req.to_addr) != inviting.local_tag:
            return False
        inviting.hung_up.add(remote_tag)
        return True

    async def invite(
        self,
        to: str | CalleeTarget,
        *,
        from_user: str,
        rtp_port: int,
        ring_timeout_s: float,
        on_progress: Callable[[int], None] | None = None,
        extra_headers: dict[str, str] | None = None,
        on_early_media: Callable[[tuple[str, int]], None] | None = None,
        credentials: SipDigestAuth | None = None,
    ) -> OutboundCall:
        """Place a call; return once answered (200 OK received and ACKed).

        Raises CallFailed for a non-2xx final (its code), no final response at all (408), or
        no answer within ring_timeout_s, after which the INVITE is CANCELled (487); for a
        challenge it cannot answer (AUTH_FAILED) and for an answer it cannot use (BAD_SDP,
        UNROUTABLE: that dialog is ACKed and BYE'd first).
        `to`: a CalleeTarget (the dialer: the INVITE goes to its host and port, never to what a
        parser makes of a URI), or a SIP URI (tests, peers).
        `credentials`: answer one 401 and one 407 (digest, qop=auth) by re-sending the INVITE.
        """
        host = self.local_addr[0]
        from_uri = f"sip:{from_user}@{host}:{self.local_addr[1]}"
        if isinstance(to, CalleeTarget):
            to_uri, to_addr = to.request_uri, to.addr
        else:
            to_uri = to.strip().strip("<>")
            to_addr = uri_addr(to_uri)
        try:
            dest = await resolve(self.proxy or to_addr)
        except UnresolvableHost as e:
            log.warning("INVITE not sent: %s", e)
            raise CallFailed(503, str(e), FailureCause.TRUNK_UNRESOLVED) from None
        dialog = Dialog(
            call_id=generate_call_id(host),
            local_tag=generate_tag(),
            local_uri=from_uri,
            remote_uri=to_uri,
            remote_target=to_uri,
            state=DialogState.EARLY,
        )
        offer = sdp.offer(host, rtp_port)
        auth_headers: dict[str, str] = {}

        def send_invite() -> ClientTransaction:
            invite = SipRequest(method="INVITE", uri=to_uri)
            invite.headers.append("Via", new_via(self.local_addr))
            invite.headers.set_single("Max-Forwards", "70")
            invite.headers.set_single("From", f"<{from_uri}>;tag={dialog.local_tag}")
            invite.headers.set_single("To", f"<{to_uri}>")
            invite.headers.set_single("Call-ID", dialog.call_id)
            invite.headers.set_single("CSeq", stringify_cseq(CSeq(seq=dialog.next_cseq(), method="INVITE")))
            invite.headers.set_single("Contact", self.contact)
            invite.headers.set_single("Allow", ALLOW)
            invite.headers.set_single("User-Agent", self.user_agent)
            for name, value in {**(extra_headers or {}), **auth_headers}.items():
                invite.headers.set_single(name, value)
            invite.text = offer
            invite.headers.set_single("Content-Type", "application/sdp")
            txn = self.endpoint.request(invite, dest)
            txn.on_forked_2xx = lambda resp: self._release_later(dialog, inviting, txn, resp)
            inviting.txn = txn
            return txn

        loop = asyncio.get_running_loop()
        ring_deadline = loop.time() + ring_timeout_s
        inviting = _Inviting(dialog.local_tag)
        self._inviting[dialog.call_id] = inviting
        txn = send_invite()
        early: tuple[str, int] | None = None
        challenged: set[int] = set()
        try:
            while True:
                timeout = ring_deadline - loop.time()
                if timeout <= 0:
                    raise TimeoutError
                async with asyncio.timeout(timeout):
                    resp = await txn.responses.get()
                code = resp.status_code
                if code < 200:
                    if code > 100 and on_progress is not None:
                        on_progress(code)
                    if code == 183 and resp.body:
                        try:
                            m = sdp.parse_media(resp.text)
                        except sdp.SdpError as e:
                            log.info("early media ignored: %s", e)
                            continue
                        early = m.rtp
                        if on_early_media is not None:
                            on_early_media(m.rtp)
                    continue
                if code in (401, 407):
                    if credentials is None or code in challenged:
                        raise CallFailed(code, "trunk auth failed", FailureCause.AUTH_FAILED)
                    answer = answer_challenge(credentials, resp, code, "INVITE", to_uri)
                    if answer is None:
                        raise CallFailed(code, "unanswerable challenge", FailureCause.AUTH_FAILED)
                    # Once per challenge kind: a second 401 after our answer means wrong credentials.
                    challenged.add(code)
                    auth_headers[answer[0]] = answer[1]
                    txn = send_invite()
                    continue
                if code >= 300:
                    raise CallFailed(code, resp.reason_phrase or REASONS.get(code, ""))
                call = await self._confirm(dialog, txn, resp, rtp_port)
                call.early_media = early
                if call.dialog.remote_tag in inviting.hung_up:
                    call.remote_bye()  # the BYE that crossed the 200 was answered 200 already
                return call
        except TimeoutError:
            await self._cancel(dialog, txn, rtp_port)
            raise CallFailed(487, "no answer") from None
        except asyncio.CancelledError:
            # The dialer gave up (shutdown, deadline): never leave the phone ringing.
            if not txn.final.done():
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2 * self.endpoint.t1 * 4):
                        await self._cancel(dialog, txn, rtp_port)
            raise
        finally:
            if self._inviting.get(dialog.call_id) is inviting:
                del self._inviting[dialog.call_id]
            # A timeout surfaced on the INVITE future after we stopped awaiting it is expected.
            if txn.final.done() and not txn.final.cancelled():
                txn.final.exception()

    def _answered_dialog(self, dialog: Dialog, resp: SipResponse) -> Dialog:
        """The confirmed dialog a 2xx makes of our INVITE (each forked 2xx makes its own)."""
        answered = Dialog(
            call_id=dialog.call_id,
            local_tag=dialog.local_tag,
            local_uri=dialog.local_uri,
            remote_uri=dialog.remote_uri,
            remote_target=dialog.remote_target,
            local_cseq=dialog.local_cseq,
            state=DialogState.EARLY,
        )
        answered.remote_tag = _tag(resp.to_addr)
        contacts = resp.contact
        if contacts:
            c = contacts[0].uri
            host = f"[{c.host}]" if ":" in c.host and not c.host.startswith("[") else c.host
            answered.remote_target = f"sip:{c.user + '@' if c.user else ''}{host}:{c.port or 5060}"
        answered.route_set = [r.strip() for rr in reversed(resp.headers.get("record-route")) for r in rr.split(",")]
        answered.confirm()
        return answered

    async def _next_hop(self, dialog: Dialog, txn: ClientTransaction) -> Addr:
        """Where ACK and BYE go: the outbound proxy, the first route, else the Contact, resolved.

        UnresolvableHost when the hop names a host that does not resolve.
        """
        if self.proxy is not None:
            return await resolve(self.proxy)
        uri = dialog.route_set[0] if dialog.route_set else (dialog.remote_target or dialog.remote_uri)
        return await resolve(uri_addr(uri))

    async def _confirm(self, dialog: Dialog, txn: ClientTransaction, resp: SipResponse, rtp_port: int) -> OutboundCall:
        """ACK the 2xx and make the call; CallFailed (after ACK and BYE) for an answer we cannot use."""
        answered = self._answered_dialog(dialog, resp)
        dialog.local_cseq = answered.local_cseq
        problem: CallFailed | None = None
        try:
            hop = await self._next_hop(answered, txn)
        except UnresolvableHost as e:
            # The trunk that took the INVITE is the best place left for ACK and BYE.
            hop = txn.addr
            problem = CallFailed(502, f"next hop: {e}", FailureCause.UNROUTABLE)
        ack = self._ack_2xx(answered, cseq_of(resp).seq)
        txn.ack_2xx = (ack, hop)
        self.endpoint.send(ack, hop)
        media = sdp.MediaOffer(("0.0.0.0", 0), (), None)
        if problem is None:
            try:
                if not resp.body:
                    raise sdp.SdpError("no SDP in answer")
                media = sdp.parse_media(resp.text)
                if not any(p in sdp.SUPPORTED for p in media.payload_types):
                    problem = CallFailed(488, "no acceptable codec in answer", FailureCause.BAD_SDP)
            except sdp.SdpError as e:
                problem = CallFailed(488, str(e), FailureCause.BAD_SDP)
        pts = [p for p in media.payload_types if p in sdp.SUPPORTED]
        call = OutboundCall(self, answered, media, pts[0] if pts else 0, txn, rtp_port, hop)
        self._calls[dialog.call_id] = call
        if problem is not None:
            # Answered but unusable: end it at once, so the callee is never left on a silent line.
            log.warning("answer refused, hanging up", extra={"sip_reason": problem.reason})
            self._release_task(call.hangup())
            raise problem
        return call

    def _release_later(self, dialog: Dialog, inviting: _Inviting, txn: ClientTransaction, resp: SipResponse) -> None:
        tag = _tag(resp.to_addr)
        if tag in inviting.released:
            sent = inviting.released[tag]
            if sent is not None:
                self.endpoint.send(*sent)  # its 200 again: our ACK was lost
            return
        inviting.released[tag] = None
        self._release_task(self._release_fork(dialog, inviting, txn, resp))

    def _release_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release_fork(
        self, dialog: Dialog, inviting: _Inviting, txn: ClientTransaction, resp: SipResponse
    ) -> None:
        """ACK and BYE a second forked answer: we keep the first dialog only (RFC 3261 §13.2.2.4)."""
        fork = self._answered_dialog(dialog, resp)
        try:
            hop = await self._next_hop(fork, txn)
        except UnresolvableHost:
            hop = txn.addr
        log.info("second forked answer released", extra={"call_id": dialog.call_id})
        ack = self._ack_2xx(fork, cseq_of(resp).seq)
        inviting.released[_tag(resp.to_addr)] = (ack, hop)
        self.endpoint.send(ack, hop)
        if fork.remote_tag in inviting.hung_up:
            return  # it hung up already (its BYE came first)
        bye = fork.create_request("BYE", via_host=self.local_addr[0], via_port=self.local_addr[1])
        fork.terminate()
        with contextlib.suppress(TransactionTimeout, asyncio.CancelledError):
            await self.endpoint.request(bye, hop).wait_final()

    def _ack_2xx(self, dialog: Dialog, cseq: int) -> SipRequest:
        ack = dialog.create_request("ACK", via_host=self.local_addr[0], via_port=self.local_addr[1])
        dialog.local_cseq -= 1  # ACK reuses the INVITE's CSeq number
        ack.headers.set_single("CSeq", stringify_cseq(CSeq(seq=cseq, method="ACK")))
        return ack

    async def _cancel(self, dialog: Dialog, txn: ClientTransaction, rtp_port: int) -> None:
        inv = txn.request
        loop = asyncio.get_running_loop()
        # §9.1: CANCEL only once the INVITE is in Proceeding (a 1xx arrived).
        if not txn.provisional_seen and not txn.final.done():
            proceeding = asyncio.ensure_future(txn.proceeding.wait())
            waiting = asyncio.ensure_future(txn.wait_final())
            await asyncio.wait({proceeding, waiting}, timeout=64 * self.endpoint.t1)
            proceeding.cancel()
            waiting.cancel()
        if not txn.final.done():
            cancel = SipRequest(method="CANCEL", uri=inv.uri)
            cancel.headers.append("Via", inv.headers.get_first("via") or "")
            for name in ("From", "To", "Call-ID"):
                cancel.headers.set_single(name, inv.headers.get_first(name) or "")
            cancel.headers.set_single("CSeq", stringify_cseq(CSeq(seq=cseq_of(inv).seq, method="CANCEL")))
            cancel.headers.set_single("Max-Forwards", "70")
            for route in inv.headers.get("route"):
                cancel.headers.append("Route", route)
            ctxn = self.endpoint.request(cancel, txn.addr)
            with contextlib.suppress(Exception):
                await ctxn.wait_final()
        deadline = loop.time() + 64 * self.endpoint.t1
        try:
            async with asyncio.timeout(max(0.0, deadline - loop.time())):
                final = await txn.wait_final()
        except (TimeoutError, TransactionTimeout):
            return
        if 200 <= final.status_code < 300:
            # 200 crossed our CANCEL: the callee did pick up, so ACK and hang up properly.
            with contextlib.suppress(CallFailed):
                call = await self._confirm(dialog, txn, final, rtp_port)
                await call.hangup()
