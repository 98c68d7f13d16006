"""Outbound calls to a SIP trunk: INVITE with a G.711 offer, ring timeout, CANCEL, BYE.

Fixes over aiosipua's SipUAC (sip-notes.md): requests are retransmitted (transport.py), non-2xx
finals are ACKed, ACK and BYE go to the 2xx Contact (or the first Record-Route hop) instead of
the To-URI, and 183 Session Progress SDP is reported as early media.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiosipua import Dialog, DialogState, SipRequest, SipResponse
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
    cseq_of,
    new_via,
    uri_addr,
)
from obzvon.sip.trunk import CalleeTarget

log = logging.getLogger(__name__)


class CallFailed(Exception):
    """The call was not answered: the SIP final code (or 408/487 we concluded) and why."""

    def __init__(self, sip_code: int, reason: str) -> None:
        super().__init__(f"{sip_code} {reason}")
        self.sip_code = sip_code
        self.reason = reason


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

    @property
    def active(self) -> bool:
        return self.dialog.state == DialogState.CONFIRMED

    def _next_hop(self) -> Addr:
        if self._trunk.proxy is not None:
            return self._trunk.proxy
        if self.dialog.route_set:
            return uri_addr(self.dialog.route_set[0])
        return uri_addr(self.dialog.remote_target or self.dialog.remote_uri)

    async def hangup(self) -> None:
        """BYE (retransmitted per Timer E); returns when answered or timed out, never raises."""
        if not self.active or self._bye_sent:
            return
        self._bye_sent = True
        bye = self.dialog.create_request("BYE", via_host=self._trunk.local_addr[0], via_port=self._trunk.local_addr[1])
        self.dialog.terminate()
        txn = self._trunk.endpoint.request(bye, self._next_hop())
        try:
            resp = await txn.wait_final()
            if resp.status_code >= 300:
                log.info("BYE for %s answered %s", self.call_id, resp.status_code)
        except (TransactionTimeout, asyncio.CancelledError):
            log.info("BYE for %s got no answer", self.call_id)
        finally:
            self._trunk._calls.pop(self.call_id, None)

    def _on_request(self, stx: ServerTransaction) -> None:
        method = stx.request.method
        if method == "BYE":
            stx.respond(200)
            self.dialog.terminate()
            self.remote_hangup.set()
            self._trunk._calls.pop(self.call_id, None)
        elif method == "INVITE":
            # Session refresh re-INVITE: keep the media as it is.
            body = sdp.offer(self._trunk.local_addr[0], self._rtp_port, (self.payload_type,))
            stx.respond(200, headers={"Contact": self._trunk.contact}, body=body.encode())
        elif method in ("OPTIONS", "UPDATE", "INFO"):
            stx.respond(200)
        elif method != "ACK":
            stx.respond(501, "Not Implemented")


class SipTrunk:
    """One UDP socket placing many concurrent outbound calls."""

    def __init__(self, endpoint: SipEndpoint, proxy: Addr | None, user_agent: str) -> None:
        self.endpoint = endpoint
        self.proxy = proxy
        self.user_agent = user_agent
        self._calls: dict[str, OutboundCall] = {}
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
        await self.endpoint.close()

    def _on_request(self, stx: ServerTransaction) -> None:
        call = self._calls.get(stx.request.call_id or "")
        if call is not None:
            call._on_request(stx)
        elif stx.request.method == "OPTIONS":
            stx.respond(200)
        elif stx.request.method != "ACK":
            stx.respond(481)

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
    ) -> OutboundCall:
        """Place a call; return once answered (200 OK received and ACKed).

        Raises CallFailed for a non-2xx final (its code), no final response at all (408), or
        no answer within ring_timeout_s, after which the INVITE is CANCELled (487).
        `to`: a CalleeTarget (the dialer: the INVITE goes to its host and port, never to what a
        parser makes of a URI), or a SIP URI (tests, peers).
        """
        host = self.local_addr[0]
        from_uri = f"sip:{from_user}@{host}:{self.local_addr[1]}"
        if isinstance(to, CalleeTarget):
            to_uri, to_addr = to.request_uri, to.addr
        else:
            to_uri = to.strip().strip("<>")
            to_addr = uri_addr(to_uri)
        dialog = Dialog(
            call_id=generate_call_id(host),
            local_tag=generate_tag(),
            local_uri=from_uri,
            remote_uri=to_uri,
            remote_target=to_uri,
            state=DialogState.EARLY,
        )
        invite = SipRequest(method="INVITE", uri=to_uri)
        invite.headers.append("Via", new_via(self.local_addr))
        invite.headers.set_single("Max-Forwards", "70")
        invite.headers.set_single("From", f"<{from_uri}>;tag={dialog.local_tag}")
        invite.headers.set_single("To", f"<{to_uri}>")
        invite.headers.set_single("Call-ID", dialog.call_id)
        invite.headers.set_single("CSeq", stringify_cseq(CSeq(seq=dialog.next_cseq(), method="INVITE")))
        invite.headers.set_single("Contact", self.contact)
        invite.headers.set_single("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")
        invite.headers.set_single("User-Agent", self.user_agent)
        for name, value in (extra_headers or {}).items():
            invite.headers.set_single(name, value)
        invite.text = sdp.offer(host, rtp_port)
        invite.headers.set_single("Content-Type", "application/sdp")

        dest = self.proxy or to_addr
        loop = asyncio.get_running_loop()
        ring_deadline = loop.time() + ring_timeout_s
        txn = self.endpoint.request(invite, dest)
        early: tuple[str, int] | None = None
        try:
            while True:
                timeout = ring_deadline - loop.time()
                if timeout <= 0:
                    raise TimeoutError
                async with asyncio.timeout(timeout):
                    resp = await txn.responses.get()
                if resp.status_code < 200:
                    if resp.status_code > 100 and on_progress is not None:
                        on_progress(resp.status_code)
                    if resp.status_code == 183 and resp.body:
                        m = sdp.parse_media(resp.text)
                        if m is not None:
                            early = m.rtp
                            if on_early_media is not None:
                                on_early_media(m.rtp)
                    continue
                if resp.status_code >= 300:
                    raise CallFailed(resp.status_code, resp.reason_phrase or REASONS.get(resp.status_code, ""))
                call = self._confirm(dialog, txn, resp, rtp_port)
                call.early_media = early
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
            # A timeout surfaced on the INVITE future after we stopped awaiting it is expected.
            if txn.final.done() and not txn.final.cancelled():
                txn.final.exception()

    def _confirm(self, dialog: Dialog, txn: ClientTransaction, resp: SipResponse, rtp_port: int) -> OutboundCall:
        to = resp.to_addr
        dialog.remote_tag = (to.tag or "") if to is not None else ""
        contacts = resp.contact
        if contacts:
            c = contacts[0].uri
            dialog.remote_target = f"sip:{c.user + '@' if c.user else ''}{c.host}:{c.port or 5060}"
        dialog.route_set = [r.strip() for rr in reversed(resp.headers.get("record-route")) for r in rr.split(",")]
        dialog.confirm()
        ack = self._ack_2xx(dialog, cseq_of(resp).seq)
        media = sdp.parse_media(resp.text) if resp.body else None
        pts = [p for p in (media.payload_types if media else ()) if p in sdp.SUPPORTED]
        call = OutboundCall(
            self,
            dialog,
            media or sdp.MediaOffer(("127.0.0.1", 0), (), None),
            pts[0] if pts else 0,
            txn,
            rtp_port,
        )
        hop = call._next_hop()
        txn.ack_2xx = (ack, hop)
        self.endpoint.send(ack, hop)
        self._calls[dialog.call_id] = call
        if media is None or not pts:
            # Answered without a usable codec: end it at once, the caller sees 488.
            asyncio.get_running_loop().create_task(call.hangup())
            raise CallFailed(488, "no acceptable codec in answer")
        return call

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
                call = self._confirm(dialog, txn, final, rtp_port)
                await call.hangup()
