"""Transfer to an operator: a second call leg placed and relayed by the dialer (docs/sip.md, "Transfer").

The operator is dialled as an extension on the campaign's own trunk (the host the allowlist passed for
the callee's leg), never at a URI the tenant wrote. While the operator's phone rings the callee hears
ringback (425 Hz, 0.8 s on, 3.2 s off, as Russian and most European exchanges play it), never dead
air. Once the operator answers they hear a short whisper (who is calling) and then both legs' audio is
relayed frame by frame, each leg on its own RTP session; the call ends when either side hangs up.
The dialer stays in the media path on purpose: it keeps the call's length limit, its events and any
recording, and test trunks do not accept REFER.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import struct
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from aiosipua.auth import SipDigestAuth
from google.protobuf.duration_pb2 import Duration
from obzvon.media.clock import MediaClock
from obzvon.media.rtp import RtpSession
from obzvon.outcomes import describe, outcome_of_sip
from obzvon.script import DEFAULT_OPERATOR_RING_S, OPERATOR_EXTENSION_RE
from obzvon.sip.trunk import CalleeTarget, host_problem
from obzvon.sip.uac import CallFailed, OutboundCall, SipTrunk
from obzvon.v1 import events_pb2, scripts_pb2

from obzvon_dialer.prompts import PromptMissing, Prompts

log = logging.getLogger(__name__)
T = events_pb2.CallEventType

RINGBACK_HZ = 425.0
RINGBACK_ON_S = 0.8
RINGBACK_OFF_S = 3.2
RINGBACK_AMPLITUDE = 4000  # about -18 dBm0: audible, well below speech peaks


def ringback_cadence() -> bytes:
    """One ringback period as 8 kHz PCM16: the tone, then the pause."""
    on = int(8000 * RINGBACK_ON_S)
    tone = b"".join(
        struct.pack("<h", int(RINGBACK_AMPLITUDE * math.sin(2 * math.pi * RINGBACK_HZ * i / 8000))) for i in range(on)
    )
    return tone + b"\x00\x00" * int(8000 * RINGBACK_OFF_S)


RINGBACK = ringback_cadence()


class TransferEvents(Protocol):
    async def emit(self, type_: events_pb2.CallEventType.ValueType, **fields: object) -> None: ...


@dataclass
class OperatorLeg:
    """The operator's answered call and its own RTP session."""

    call: OutboundCall
    rtp: RtpSession
    answered_at: float  # time.monotonic()


class BridgeEnd(enum.Enum):
    """Who ended a bridged call (the value is for logs)."""

    OPERATOR_HUNG_UP = "operator hung up"
    CALLEE_ENDED = "callee hung up or the call was cut off"


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


@dataclass
class OperatorDesk:
    """What a call's transfer needs from its dialer: the SIP stack, the media clock, prompts and events."""

    trunk: SipTrunk
    clock: MediaClock
    rtp_host: str
    prompts: Prompts
    request: events_pb2.DialRequest
    events: TransferEvents
    credentials: SipDigestAuth | None = None

    def target(self, transfer: scripts_pb2.TransferNode) -> CalleeTarget | None:
        """The operator's leg goes where the callee's went (trunk host and port); None when unusable."""
        trunk = self.request.trunk
        if not OPERATOR_EXTENSION_RE.match(transfer.operator) or host_problem(trunk.host):
            return None
        if not 1 <= trunk.port <= 65535:
            return None
        return CalleeTarget(user=transfer.operator, host=trunk.host, port=trunk.port)

    async def dial(self, transfer: scripts_pb2.TransferNode, whisper: str, callee: RtpSession) -> OperatorLeg | None:
        """Rings the operator with ringback to the callee; the answered leg after its whisper, or None.

        Cancelled (the callee hung up or opted out while it rang), the operator's INVITE is CANCELled
        or their answered leg is ended with BYE: no operator is left holding a dead call.
        """
        await self.events.emit(T.CALL_EVENT_TYPE_TRANSFER_REQUESTED)
        target = self.target(transfer)
        if target is None:
            # Validated at campaign creation; a request that still names no usable extension rings nobody.
            log.warning("transfer refused: no usable operator extension")
            await self.events.emit(T.CALL_EVENT_TYPE_OPERATOR_UNAVAILABLE, reason="no operator")
            return None
        whisper_audio = asyncio.ensure_future(self._whisper(whisper, callee.payload_type))
        ringback = asyncio.ensure_future(_loop_ringback(callee))
        rtp = await RtpSession.open(self.clock, host=self.rtp_host)
        leg: OperatorLeg | None = None
        invited_at = time.monotonic()
        try:
            try:
                call = await self.trunk.invite(
                    target,
                    from_user=self.request.caller_id.lstrip("+"),
                    rtp_port=rtp.local_port,
                    ring_timeout_s=float(transfer.ring_timeout_seconds or DEFAULT_OPERATOR_RING_S),
                    # Who is calling, for the operator's screen: ids only, never the phone number.
                    extra_headers={
                        "X-Obzvon-Campaign": self.request.campaign_id,
                        "X-Obzvon-Contact": self.request.contact_id,
                        "X-Obzvon-Attempt": self.request.attempt_id,
                    },
                    credentials=self.credentials,
                )
            except CallFailed as failed:
                detail = events_pb2.OutcomeDetail(outcome=outcome_of_sip(failed.sip_code))
                log.info("operator unavailable", extra={"sip_code": failed.sip_code})
                await self.events.emit(
                    T.CALL_EVENT_TYPE_OPERATOR_UNAVAILABLE,
                    sip_code=failed.sip_code,
                    reason=describe(detail, failed.sip_code),
                    operator_ring=_duration(time.monotonic() - invited_at),
                )
                return None
            rtp.connect(call.remote_rtp, call.payload_type, call.dtmf_payload_type)
            leg = OperatorLeg(call, rtp, time.monotonic())
            await self.events.emit(T.CALL_EVENT_TYPE_TRANSFERRED, operator_ring=_duration(leg.answered_at - invited_at))
            # The callee keeps hearing ringback while the operator hears who is calling.
            with contextlib.suppress(PromptMissing):
                audio = await whisper_audio
                if audio is not None:
                    await rtp.play(audio.data, encoded_as=audio.encoded_as)
            return leg
        except BaseException:
            # Cancelled while the operator heard the whisper: they are not left on a dead line.
            if leg is not None:
                await self.release(leg)
            raise
        finally:
            ringback.cancel()
            callee.stop_playback()
            if not whisper_audio.done():
                whisper_audio.cancel()
            whisper_audio.add_done_callback(_seen)
            if leg is None:
                await rtp.close()

    async def _whisper(self, text: str, payload_type: int) -> _Audio | None:
        if not text:
            return None
        prompt = await self.prompts.audio(text, self.request.voice, self.request.language, payload_type)
        return _Audio(prompt.data, prompt.encoded_as)

    async def bridged(self, leg: OperatorLeg, callee_ended: asyncio.Event) -> BridgeEnd:
        """Waits while the legs talk (the caller relays the audio) until either side ends; reports talk time."""
        operator_gone = asyncio.ensure_future(leg.call.remote_hangup.wait())
        callee_gone = asyncio.ensure_future(callee_ended.wait())
        try:
            await asyncio.wait({operator_gone, callee_gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            operator_gone.cancel()
            callee_gone.cancel()
        end = BridgeEnd.OPERATOR_HUNG_UP if leg.call.remote_hangup.is_set() else BridgeEnd.CALLEE_ENDED
        talk = time.monotonic() - leg.answered_at
        log.info("transfer ended", extra={"ended_by": end.value, "talk_s": round(talk, 1)})
        await self.events.emit(T.CALL_EVENT_TYPE_TRANSFER_ENDED, reason=end.value, operator_talk=_duration(talk))
        return end

    async def release(self, leg: OperatorLeg) -> None:
        """BYE to the operator (unless they hung up) and their RTP closed."""
        try:
            if not leg.call.remote_hangup.is_set():
                await leg.call.hangup()
        finally:
            await leg.rtp.close()


@dataclass(frozen=True)
class _Audio:
    data: bytes
    encoded_as: int | None


async def _loop_ringback(callee: RtpSession) -> None:
    while True:
        played: Awaitable[bool] = callee.play(RINGBACK)
        if not await played:
            return  # stopped (the operator answered, or the call ended)


def _seen(task: asyncio.Future[_Audio | None]) -> None:
    """A whisper fetch left behind (the operator never answered) is not an error."""
    if not task.cancelled():
        task.exception()
