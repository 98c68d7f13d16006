"""Operator endpoints: the people a transfer node rings (answer after a delay, busy, no answer, speak a line).

An operator is picked by the Request-URI user (its extension), not by the contact's number, and records
what it heard (the whisper, then the callee through the dialer's bridge) so tests can check that audio
passes both ways. `parse_operators` reads the command line's `--operator reception=answer:2` form.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from obzvon.media import MediaClock, RtpSession
from obzvon.media.g711 import rms
from obzvon.sip import IncomingCall

VOICED_RMS = 300


class OperatorAction(enum.Enum):
    ANSWER = "answer"
    BUSY = "busy"  # 486 at once
    NO_ANSWER = "no_answer"  # rings until the dialer gives up (CANCEL)


@dataclass
class OperatorPersona:
    """How one extension behaves; `line` (PCM16, 8 kHz) is said `speak_after_s` after answering."""

    action: OperatorAction = OperatorAction.ANSWER
    answer_after_s: float = 1.0
    line: bytes = b""
    speak_after_s: float = 0.5
    hang_up_after_s: float = 30.0  # after answering: the operator ends the call (BYE)
    # Filled in as the call goes: what the operator heard (20 ms PCM16 frames) and when.
    heard: list[bytes] = field(default_factory=list)
    invites: list[IncomingCall] = field(default_factory=list)
    invited: asyncio.Event = field(default_factory=asyncio.Event)
    invited_at: float | None = None  # time.monotonic() of the first INVITE
    on_frame: Callable[[bytes], None] | None = None  # called with each frame heard (benchmarks time them)
    answered_at: float | None = None  # time.monotonic()
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    def hear(self, frame: bytes) -> None:
        self.heard.append(frame)
        if self.on_frame is not None:
            self.on_frame(frame)

    @property
    def heard_voiced_ms(self) -> int:
        return 20 * sum(1 for frame in self.heard if rms(frame) >= VOICED_RMS)


def parse_operators(specs: list[str]) -> dict[str, OperatorPersona]:
    """['reception=answer:2', 'sales=busy', 'night=no_answer'] -> personas by extension."""
    out: dict[str, OperatorPersona] = {}
    for spec in specs:
        name, _, how = spec.partition("=")
        action_name, _, delay = how.partition(":")
        try:
            action = OperatorAction(action_name.strip() or "answer")
        except ValueError:
            raise ValueError(f"operator {name!r}: one of {', '.join(a.value for a in OperatorAction)}") from None
        out[name.strip()] = OperatorPersona(action=action, answer_after_s=float(delay) if delay else 1.0)
    return out


async def act_operator(
    call: IncomingCall, persona: OperatorPersona, clock: MediaClock, host: str = "127.0.0.1"
) -> dict[str, Any]:
    """Plays the persona out on one INVITE; the ground-truth record of the call."""
    persona.invites.append(call)
    persona.invited.set()
    if persona.invited_at is None:
        persona.invited_at = time.monotonic()
    record: dict[str, Any] = {"operator": call.to_user, "action": persona.action.value, "sip_code": 0, "ended_by": ""}
    if persona.action is OperatorAction.BUSY:
        record["sip_code"] = 486
        await call.reject(486)
        return record
    call.ring(180)
    ring_for = 3600.0 if persona.action is OperatorAction.NO_ANSWER else persona.answer_after_s
    try:
        async with asyncio.timeout(ring_for):
            await call.cancelled.wait()
        record.update(sip_code=487, ended_by="cancel")
        return record
    except TimeoutError:
        pass
    if call.remote_rtp is None or not call.offer or not call.offer.payload_types:
        record["sip_code"] = 488
        await call.reject(488)
        return record
    rtp = await RtpSession.open(clock, host)
    rtp.on_frame = persona.hear
    try:
        if not await call.answer(rtp.local_port):
            record.update(sip_code=487, ended_by="cancel")
            return record
        record["sip_code"] = 200
        persona.answered_at = time.monotonic()
        persona.answered.set()
        assert call.remote_rtp is not None and call.payload_type is not None
        rtp.connect(call.remote_rtp, call.payload_type, call.dtmf_payload_type)
        speak = asyncio.ensure_future(_speak(rtp, persona))
        try:
            async with asyncio.timeout(persona.hang_up_after_s):
                await call.remote_hangup.wait()
            record["ended_by"] = "dialer"
        except TimeoutError:
            record["ended_by"] = "operator"
            await call.hangup()
        finally:
            speak.cancel()
    finally:
        await rtp.close()
    record["heard_voiced_ms"] = persona.heard_voiced_ms
    return record


async def _speak(rtp: RtpSession, persona: OperatorPersona) -> None:
    if not persona.line:
        return
    await asyncio.sleep(persona.speak_after_s)
    await rtp.play(persona.line)
