"""UDP SIP endpoint with the RFC 3261 §17 transaction layer aiosipua leaves out.

aiosipua 0.7.1 sends each request once and never ACKs a non-2xx final; on UDP a single lost
datagram then fails or hangs a call. This module owns the socket (its own DatagramProtocol,
so no `isinstance(DatagramTransport)` assert that uvloop's transport fails), retransmits
client requests (Timers A/B for INVITE, E/F otherwise), ACKs non-2xx finals hop-by-hop and
re-ACKs their retransmissions, and on the server side absorbs request retransmissions and
retransmits INVITE finals until the ACK arrives (Timers G/H). aiosipua still does the
parsing, serialising, headers, SDP and dialogs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import Any

from aiosipua import SipMessage, SipRequest, SipResponse
from aiosipua.headers import CSeq, Via, parse_uri, parse_via, stringify_cseq, stringify_via
from aiosipua.utils import generate_branch, generate_tag

log = logging.getLogger(__name__)

T1 = 0.5
T2 = 4.0
RESOLVE_TIMEOUT_S = 2.0

REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    603: "Decline",
}


class TransactionTimeout(Exception):
    """No final response within 64*T1 (Timer B or F)."""


Addr = tuple[str, int]


class UnresolvableHost(Exception):
    """A SIP host name that the resolver does not turn into an IPv4 or IPv6 address."""


def uri_addr(uri: str) -> Addr:
    """The host (a name or an IP literal) and port a SIP URI names; `resolve` makes it sendable."""
    u = parse_uri(uri.strip().strip("<>").split(">")[0])
    return (u.host.strip("[]"), u.port or 5060)


async def resolve(addr: Addr) -> Addr:
    """An address a UDP socket can send to: IP literals as they are, names through the OS resolver.

    uvloop's sendto refuses names ("a DNS lookup is required") and the stdlib's would block the loop,
    so every destination is resolved here first. Only A/AAAA records (RFC 3263 §4.2 with an explicit
    port, or port 5060): carrier edges name their proxies, SRV/NAPTR is not needed for that.
    """
    host, port = addr
    if not host or not 1 <= port <= 65535:
        raise UnresolvableHost(f"no host or a port out of range in {host[:64]!r}:{port}")
    try:
        ipaddress.ip_address(host)
        return addr
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        # Bounded: a name from a peer's Contact may point at a resolver that never answers, and the
        # callee is waiting for our ACK meanwhile (then the trunk's address is used instead).
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP)
    except (OSError, UnicodeError, ValueError) as e:
        raise UnresolvableHost(f"{host[:64]!r} does not resolve: {e}") from None
    except TimeoutError:
        raise UnresolvableHost(f"{host[:64]!r}: no DNS answer in {RESOLVE_TIMEOUT_S} s") from None
    # IPv4 first: the endpoint's socket is bound to an IPv4 address in every deployment we ship.
    for family in (socket.AF_INET, socket.AF_INET6):
        for fam, _, _, _, sockaddr in infos:
            if fam == family:
                return (str(sockaddr[0]), int(sockaddr[1]))
    raise UnresolvableHost(f"{host[:64]!r} has no IP address")


def _to_tag(msg: SipMessage) -> str:
    to = msg.to_addr
    return (to.tag or "") if to is not None else ""


def top_branch(msg: SipMessage) -> str:
    via = msg.headers.get_first("via")
    return (parse_via(via).branch or "") if via else ""


def cseq_of(msg: SipMessage) -> CSeq:
    c = msg.cseq
    return c if c is not None else CSeq(seq=0, method="")


def new_via(addr: Addr) -> str:
    return stringify_via(
        Via(transport="UDP", host=addr[0], port=addr[1], params={"branch": generate_branch(), "rport": None})
    )


class ClientTransaction:
    def __init__(self, ep: SipEndpoint, request: SipRequest, addr: Addr) -> None:
        self.ep = ep
        self.request = request
        self.addr = addr
        self.is_invite = request.method == "INVITE"
        self.responses: asyncio.Queue[SipResponse] = asyncio.Queue()
        self.final: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self.provisional_seen = False
        self.proceeding = asyncio.Event()
        self.retransmissions = 0
        # For an INVITE answered 2xx the TU owns the ACK; kept here to answer 2xx retransmissions.
        self.ack_2xx: tuple[SipRequest, Addr] | None = None
        self._ack_non2xx: SipRequest | None = None
        # Called with a 2xx whose To tag differs from the first one's (a forking proxy's second
        # answer): the TU must ACK and BYE that dialog, or the callee who answered it stays up.
        self.on_forked_2xx: Callable[[SipResponse], None] | None = None
        self._timer = asyncio.get_running_loop().create_task(self._retransmit())

    @property
    def key(self) -> tuple[str, str]:
        return (top_branch(self.request), self.request.method)

    async def wait_final(self) -> SipResponse:
        return await asyncio.shield(self.final)

    async def _retransmit(self) -> None:
        loop = asyncio.get_running_loop()
        t1, t2 = self.ep.t1, self.ep.t2
        end = loop.time() + 64 * t1
        interval = t1
        while not self.final.done():
            remaining = end - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(interval, remaining))
            if self.final.done():
                return
            if loop.time() >= end:
                break
            if self.is_invite:
                if self.provisional_seen:
                    return  # Proceeding: no Timer B; the TU's ring timeout CANCELs instead
                interval *= 2
            else:
                interval = t2 if self.provisional_seen else min(interval * 2, t2)
            self.retransmissions += 1
            self.ep.send(self.request, self.addr)
        if not self.final.done():
            self.final.set_exception(TransactionTimeout(f"{self.request.method} timed out"))
            # A local 408 tells a TU that reads `responses` (RFC 3261 §8.1.3.1).
            self.responses.put_nowait(SipResponse(status_code=408, reason_phrase="Request Timeout"))
            self.ep._forget_client(self, after=0)

    def _on_response(self, resp: SipResponse) -> None:
        code = resp.status_code
        if code < 200:
            if not self.final.done():
                self.provisional_seen = True
                self.proceeding.set()
                self.responses.put_nowait(resp)
            return
        first = not self.final.done()
        if self.is_invite and code >= 300:
            if self._ack_non2xx is None:
                self._ack_non2xx = self._build_ack(resp)
            self.ep.send(self._ack_non2xx, self.addr)
        elif self.is_invite and not first and code < 300:
            final = self.final.result() if not self.final.cancelled() and self.final.exception() is None else None
            if final is not None and 200 <= final.status_code < 300 and _to_tag(resp) != _to_tag(final):
                if self.on_forked_2xx is not None:
                    self.on_forked_2xx(resp)
            elif self.ack_2xx is not None:
                self.ep.send(*self.ack_2xx)
        if first:
            self.final.set_result(resp)
            self.responses.put_nowait(resp)
            self._timer.cancel()
            # Linger to absorb retransmitted finals (Timer D / K).
            self.ep._forget_client(self, after=64 * self.ep.t1 if self.is_invite else self.ep.t2)

    def _build_ack(self, resp: SipResponse) -> SipRequest:
        # RFC 3261 §17.1.1.3: same Request-URI, top Via and CSeq number as the INVITE.
        inv = self.request
        ack = SipRequest(method="ACK", uri=inv.uri)
        ack.headers.append("Via", inv.headers.get_first("via") or "")
        for name in ("From", "Call-ID"):
            ack.headers.set_single(name, inv.headers.get_first(name) or "")
        ack.headers.set_single("To", resp.headers.get_first("to") or inv.headers.get_first("to") or "")
        ack.headers.set_single("CSeq", stringify_cseq(CSeq(seq=cseq_of(inv).seq, method="ACK")))
        for route in inv.headers.get("route"):
            ack.headers.append("Route", route)
        ack.headers.set_single("Max-Forwards", "70")
        return ack

    def cancel_timers(self) -> None:
        self._timer.cancel()


class ServerTransaction:
    def __init__(self, ep: SipEndpoint, request: SipRequest, addr: Addr) -> None:
        self.ep = ep
        self.request = request
        self.addr = addr
        self.last_response: SipResponse | None = None
        self.acked = asyncio.Event()
        self.to_tag = generate_tag()
        self._retx: asyncio.Task[None] | None = None

    @property
    def final_sent(self) -> bool:
        return self.last_response is not None and self.last_response.status_code >= 200

    def respond(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        content_type: str = "application/sdp",
    ) -> SipResponse:
        req = self.request
        resp = SipResponse(status_code=status, reason_phrase=reason or REASONS.get(status, ""))
        for via in req.headers.get("via"):
            resp.headers.append("Via", via)
        to = req.headers.get_first("to") or ""
        if status > 100 and ";tag=" not in to.replace(" ", ""):
            to = f"{to};tag={self.to_tag}"
        resp.headers.set_single("From", req.headers.get_first("from") or "")
        resp.headers.set_single("To", to)
        resp.headers.set_single("Call-ID", req.headers.get_first("call-id") or "")
        resp.headers.set_single("CSeq", req.headers.get_first("cseq") or "")
        for name, value in (headers or {}).items():
            resp.headers.set_single(name, value)
        if body:
            resp.body = body
            resp.headers.set_single("Content-Type", content_type)
        self.last_response = resp
        self.ep.send(resp, self.addr)
        if status >= 200:
            if req.method == "INVITE":
                if status < 300:
                    self.ep._pending_2xx[(req.call_id or "", cseq_of(req).seq)] = self
                if self._retx is None:
                    self._retx = asyncio.get_running_loop().create_task(self._retransmit_final())
            else:
                self.ep._forget_server(self, after=64 * self.ep.t1)
        return resp

    async def _retransmit_final(self) -> None:
        # Timer G until the ACK, giving up at Timer H (64*T1); 2xx retransmission is the UAS
        # core's duty (§13.3.1.4) but lives here for both as it is the same loop.
        loop = asyncio.get_running_loop()
        end = loop.time() + 64 * self.ep.t1
        interval = self.ep.t1
        try:
            while not self.acked.is_set() and loop.time() < end:
                try:
                    async with asyncio.timeout(min(interval, max(0.0, end - loop.time()))):
                        await self.acked.wait()
                except TimeoutError:
                    if self.last_response is not None and not self.acked.is_set() and loop.time() < end:
                        self.ep.send(self.last_response, self.addr)
                interval = min(interval * 2, self.ep.t2)
        finally:
            req = self.request
            self.ep._pending_2xx.pop((req.call_id or "", cseq_of(req).seq), None)
            self.ep._forget_server(self, after=self.ep.t2)


RequestHandler = Callable[[ServerTransaction], None]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.sink: Callable[[bytes, Addr], None] | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int] | Any) -> None:
        if self.sink is not None:
            self.sink(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("sip socket error: %s", exc)


class SipEndpoint:
    """One UDP socket shared by every transaction and dialog of a process side."""

    def __init__(self, transport: asyncio.DatagramTransport, local_addr: Addr, t1: float, t2: float) -> None:
        self._transport = transport
        self.local_addr = local_addr
        self.t1 = t1
        self.t2 = t2
        self.on_request: RequestHandler | None = None
        self._clients: dict[tuple[str, str], ClientTransaction] = {}
        self._servers: dict[tuple[str, str], ServerTransaction] = {}
        self._pending_2xx: dict[tuple[str, int], ServerTransaction] = {}
        self._closed = False
        self.sent_log: list[tuple[str, Addr]] | None = None  # first lines, for tests and debugging

    @classmethod
    async def bind(cls, host: str = "127.0.0.1", port: int = 0, *, t1: float = T1, t2: float = T2) -> SipEndpoint:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(_Protocol, local_addr=(host, port))
        sock = transport.get_extra_info("sockname")
        ep = cls(transport, (str(sock[0]), int(sock[1])), t1, t2)
        protocol.sink = ep._on_datagram
        return ep

    def send(self, msg: SipRequest | SipResponse, addr: Addr) -> None:
        if self._closed:
            return
        data = bytes(msg)
        if self.sent_log is not None:
            self.sent_log.append((data.split(b"\r\n", 1)[0].decode(), addr))
        try:
            self._transport.sendto(data, addr)
        except (OSError, ValueError, OverflowError) as e:
            # An unsendable address (a name uvloop will not look up): one line, the caller goes on.
            log.warning("SIP datagram to %s not sent: %s", addr, e)

    def request(self, req: SipRequest, addr: Addr) -> ClientTransaction:
        if req.method == "ACK":
            raise ValueError("ACK is not a transaction; use send()")
        txn = ClientTransaction(self, req, addr)
        self._clients[txn.key] = txn
        self.send(req, addr)
        return txn

    async def close(self) -> None:
        self._closed = True
        for c in list(self._clients.values()):
            c.cancel_timers()
            if not c.final.done():
                c.final.cancel()
        for s in list(self._servers.values()):
            if s._retx is not None:
                s._retx.cancel()
        self._transport.close()

    # -- internals -------------------------------------------------------------------------

    def _forget_client(self, txn: ClientTransaction, *, after: float) -> None:
        def drop() -> None:
            if self._clients.get(txn.key) is txn:
                del self._clients[txn.key]

        if after <= 0:
            drop()
        else:
            asyncio.get_running_loop().call_later(after, drop)

    def _forget_server(self, txn: ServerTransaction, *, after: float) -> None:
        key = (top_branch(txn.request), txn.request.method)

        def drop() -> None:
            if self._servers.get(key) is txn:
                del self._servers[key]

        asyncio.get_running_loop().call_later(after, drop)

    def _on_datagram(self, data: bytes, addr: Addr) -> None:
        if data.strip() == b"":
            return  # CRLF keep-alive
        try:
            msg = SipMessage.parse(data)
        except Exception:
            log.warning("unparseable SIP datagram from %s", addr)
            return
        if isinstance(msg, SipResponse):
            key = (top_branch(msg), cseq_of(msg).method.upper())
            txn = self._clients.get(key)
            if txn is None:
                log.debug("stray response %s %s", msg.status_code, key)
                return
            txn._on_response(msg)
            return
        self._on_request(msg, addr)

    def _on_request(self, req: SipRequest, addr: Addr) -> None:
        branch = top_branch(req)
        if req.method == "ACK":
            inv = self._servers.get((branch, "INVITE"))
            if inv is not None and inv.final_sent and inv.last_response is not None:
                if inv.last_response.status_code >= 300:
                    inv.acked.set()  # hop-by-hop ACK of a non-2xx: absorbed here
                    return
            pending = self._pending_2xx.get((req.call_id or "", cseq_of(req).seq))
            if pending is not None:
                pending.acked.set()
            stx = ServerTransaction(self, req, addr)
            if self.on_request is not None:
                self.on_request(stx)
            return
        key = (branch, req.method)
        existing = self._servers.get(key)
        if existing is not None:
            if existing.last_response is not None:
                self.send(existing.last_response, existing.addr)
            return
        stx = ServerTransaction(self, req, addr)
        self._servers[key] = stx
        if self.on_request is None:
            stx.respond(503)
            return
        try:
            self.on_request(stx)
        except Exception:
            log.exception("SIP request handler failed")
            if not stx.final_sent:
                stx.respond(500)
