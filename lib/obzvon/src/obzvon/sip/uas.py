"""Answering side: a UDP SIP listener that hands each INVITE to an async handler.

Used by the phone simulator; small on purpose (no registration, no auth, no re-INVITE
negotiation) but transaction-correct, so a real UAC sees proper retransmission behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiosipua import Dialog, DialogState
from aiosipua.header_codec import parse_address

from obzvon.sip import sdp
from obzvon.sip.transport import (
    REASONS,
    Addr,
    ServerTransaction,
    SipEndpoint,
    TransactionTimeout,
    uri_addr,
)

log = logging.getLogger(__name__)


class IncomingCall:
    """One received INVITE and, once answered, its dialog."""

    def __init__(self, uas: SipUas, stx: ServerTransaction) -> None:
        self._uas = uas
        self._stx = stx
        req = stx.request
        self.request = req
        self.call_id = req.call_id or ""
        to = req.to_addr
        frm = req.from_addr
        self.to_user = (to.uri.user or "") if to is not None else ""
        self.from_uri = req.headers.get_first("from") or ""
        self.from_user = (frm.uri.user or "") if frm is not None else ""
        self.offer: sdp.MediaOffer | None = None
        if req.body:
            with contextlib.suppress(sdp.SdpError):
                self.offer = sdp.parse_media(req.text)  # none usable: the handler refuses the call
        self.payload_type: int | None = None
        self.dtmf_payload_type: int | None = self.offer.dtmf_pt if self.offer else None
        self.cancelled = asyncio.Event()
        self.remote_hangup = asyncio.Event()
        self.ended = asyncio.Event()
        self.dialog: Dialog | None = None
        self._bye_sent = False

    @property
    def remote_rtp(self) -> tuple[str, int] | None:
        return self.offer.rtp if self.offer else None

    @property
    def answered(self) -> bool:
        return self.dialog is not None

    def ring(self, status: int = 180) -> None:
        if not self._stx.final_sent:
            self._stx.respond(status)

    async def reject(self, status: int, reason: str | None = None) -> None:
        """Send a non-2xx final; its retransmission until ACK runs in the background."""
        if not self._stx.final_sent:
            self._stx.respond(status, reason or REASONS.get(status))
        self.ended.set()

    async def answer(self, rtp_port: int, payload_type: int | None = None) -> bool:
        """200 OK with an SDP answer; True once the ACK arrives (False: no ACK in 64*T1, or cancelled)."""
        if self._stx.final_sent or self.cancelled.is_set():
            return False
        offered = self.offer.payload_types if self.offer else ()
        if payload_type is None:
            payload_type = offered[0] if offered else None
        if payload_type is None or payload_type not in offered:
            self._stx.respond(488)
            self.ended.set()
            return False
        self.payload_type = payload_type
        req = self.request
        host, port = self._uas.local_addr
        contact_user = f"{self.to_user}@" if self.to_user else ""
        body = sdp.offer(host, rtp_port, (payload_type,), self.dtmf_payload_type)
        resp = self._stx.respond(
            200,
            headers={"Contact": f"<sip:{contact_user}{host}:{port}>", "Allow": "INVITE, ACK, CANCEL, BYE"},
            body=body.encode(),
        )
        frm = req.from_addr
        contacts = req.contact
        target = req.headers.get_first("from") or ""
        if contacts:
            c = contacts[0].uri
            target = f"sip:{c.user + '@' if c.user else ''}{c.host}:{c.port or 5060}"
        remote_uri = frm.uri if frm is not None else None
        to_hdr = resp.headers.get_first("to") or ""
        self.dialog = Dialog(
            call_id=self.call_id,
            local_tag=parse_address(to_hdr).tag or "",
            remote_tag=(frm.tag or "") if frm is not None else "",
            local_uri=(req.headers.get_first("to") or "").split(";")[0].strip().strip("<>"),
            remote_uri=(
                f"sip:{remote_uri.user + '@' if remote_uri.user else ''}{remote_uri.host}"
                + (f":{remote_uri.port}" if remote_uri.port else "")
                if remote_uri is not None
                else target
            ),
            remote_target=target,
            route_set=[r.strip() for rr in req.headers.get("record-route") for r in rr.split(",")],
            state=DialogState.CONFIRMED,
        )
        self._uas._dialogs[self.call_id] = self
        try:
            async with asyncio.timeout(64 * self._uas.endpoint.t1):
                await self._stx.acked.wait()
        except TimeoutError:
            log.info("no ACK for %s", self.call_id)
            await self.hangup()
            return False
        return True

    async def wait_bye(self, within_s: float | None = None) -> bool:
        """True when the far end hung up (BYE) within `within_s` seconds."""
        try:
            async with asyncio.timeout(within_s):
                await self.remote_hangup.wait()
            return True
        except TimeoutError:
            return False

    def _next_hop(self) -> Addr:
        assert self.dialog is not None
        if self.dialog.route_set:
            return uri_addr(self.dialog.route_set[0])
        return uri_addr(self.dialog.remote_target)

    async def hangup(self) -> None:
        """BYE the caller (answered calls only); tolerant of no answer."""
        if self.dialog is None or self.dialog.state != DialogState.CONFIRMED or self._bye_sent:
            return
        self._bye_sent = True
        host, port = self._uas.local_addr
        bye = self.dialog.create_request("BYE", via_host=host, via_port=port)
        self.dialog.terminate()
        txn = self._uas.endpoint.request(bye, self._next_hop())
        with contextlib.suppress(TransactionTimeout):
            await txn.wait_final()
        self.ended.set()
        self._uas._dialogs.pop(self.call_id, None)

    def _on_cancel(self) -> None:
        self.cancelled.set()
        if not self._stx.final_sent:
            self._stx.respond(487)
        self.ended.set()

    def _on_bye(self, stx: ServerTransaction) -> None:
        stx.respond(200)
        if self.dialog is not None:
            self.dialog.terminate()
        self.remote_hangup.set()
        self.ended.set()
        self._uas._dialogs.pop(self.call_id, None)


CallHandler = Callable[[IncomingCall], Awaitable[None]]


class SipUas:
    """Listens on one UDP port; runs `handler(call)` as a task for each new INVITE.

    When the handler returns, an unanswered call is rejected with 480 and an answered one
    that is still up gets a BYE, so a handler bug never leaves a phantom call behind.
    """

    def __init__(self, endpoint: SipEndpoint, handler: CallHandler) -> None:
        self.endpoint = endpoint
        self.handler = handler
        self._invites: dict[str, IncomingCall] = {}
        self._dialogs: dict[str, IncomingCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        endpoint.on_request = self._on_request

    @classmethod
    async def start(cls, handler: CallHandler, host: str = "127.0.0.1", port: int = 0, *, t1: float = 0.5) -> SipUas:
        ep = await SipEndpoint.bind(host, port, t1=t1)
        return cls(ep, handler)

    @property
    def local_addr(self) -> Addr:
        return self.endpoint.local_addr

    @property
    def local_port(self) -> int:
        return self.endpoint.local_addr[1]

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.endpoint.close()

    def _on_request(self, stx: ServerTransaction) -> None:
        req = stx.request
        call_id = req.call_id or ""
        m = req.method
        if m == "INVITE":
            if call_id in self._dialogs:
                stx.respond(488)  # no re-INVITE support in the simulator
                return
            stx.respond(100)
            call = IncomingCall(self, stx)
            self._invites[call_id] = call
            task = asyncio.get_running_loop().create_task(self._run(call), name=f"uas-{call_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif m == "CANCEL":
            inv = self._invites.get(call_id)
            stx.respond(200 if inv is not None else 481)
            if inv is not None:
                inv._on_cancel()
        elif m == "BYE":
            d = self._dialogs.get(call_id)
            if d is None:
                stx.respond(481)
            else:
                d._on_bye(stx)
        elif m == "ACK":
            pass
        elif m == "OPTIONS":
            stx.respond(200)
        else:
            stx.respond(501, "Not Implemented")

    async def _run(self, call: IncomingCall) -> None:
        try:
            await self.handler(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call handler failed for %s", call.call_id)
        finally:
            if not call._stx.final_sent:
                call._stx.respond(480)
            elif call.answered and not call.remote_hangup.is_set():
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(64 * self.endpoint.t1):
                        await call.hangup()
            call.ended.set()
            self._invites.pop(call.call_id, None)
