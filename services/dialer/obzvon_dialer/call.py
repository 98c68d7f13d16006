"""One attempt, start to end: the last checks before INVITE, the call, the dialog, the outcome.

This is where a call is placed (`place`), and where the last rules run before a phone rings.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from google.protobuf.duration_pb2 import Duration
from obzvon.admission import admission_request, narrowed_profile, now_utc
from obzvon.compliance import AuditLog, CounterStore, DncRegistry, Outcome, recheck, record_outcome
from obzvon.log import log_context
from obzvon.media.clock import MediaClock
from obzvon.media.rtp import RtpSession
from obzvon.script import disclosure_text, node_text, render, variables_in
from obzvon.sip.trunk import TrunkError, callee_target
from obzvon.sip.uac import CallFailed, OutboundCall, SipTrunk
from obzvon.v1 import events_pb2
from opentelemetry import metrics

from obzvon_dialer.asr_client import AsrClient
from obzvon_dialer.channel import CallChannel
from obzvon_dialer.dialog import run_dialog, texts_before_first_question
from obzvon_dialer.events import AttemptEvents
from obzvon_dialer.prompts import PromptMissing, Prompts
from obzvon_dialer.settings import DialerSettings

log = logging.getLogger(__name__)
T = events_pb2.CallEventType

# Calls dialed although a prompt before the first question was not rendered: tts is behind, and a callee
# who answers at once may hear silence. (A Prometheus exporter names it obzvon_dialer_prompts_late_total.)
PROMPTS_LATE = metrics.get_meter("obzvon_dialer").create_counter(
    "obzvon_dialer_prompts_late",
    unit="{call}",
    description="calls dialed before the prompts up to the first question were in the tts cache",
)


def failure_reason(sip_code: int) -> str:
    """The outcome a SIP final code means for the scheduler's retry policy."""
    if sip_code in (486, 600):
        return "busy"
    if sip_code in (408, 480, 487):
        return "no answer"
    if sip_code in (404, 484, 604, 410):
        return "bad number"
    if sip_code == 603:
        return "declined"
    if sip_code >= 500:
        return "trunk unavailable"
    return f"sip {sip_code}"


@dataclass
class DialerContext:
    """What every attempt of this dialer process shares."""

    settings: DialerSettings
    trunk: SipTrunk
    clock: MediaClock
    prompts: Prompts
    asr: AsrClient
    dnc: DncRegistry
    counters: CounterStore
    audit: AuditLog


async def place(ctx: DialerContext, request: events_pb2.DialRequest, events: AttemptEvents) -> None:
    with log_context(tenant_id=request.tenant_id, campaign_id=request.campaign_id, attempt_id=request.attempt_id):
        late: list[str] = []
        refusal = "expired before dialing" if _expired(request) else ""
        if not refusal:
            late = await _prepare_prompts(ctx, request)
            # After the wait for prompts (seconds), right before INVITE: an opt-out, DNC entry, closed
            # window or passed deadline that came meanwhile still stops the call.
            refusal = await _last_checks(ctx, request)
        if refusal:
            log.info("not dialed", extra={"reason": refusal})
            # No INVITE went out: the daily attempt cap gets its slot back (a sent one keeps it).
            await record_outcome(request.attempt_id, Outcome.NOT_PLACED, store=ctx.counters)
            await events.emit(T.CALL_EVENT_TYPE_FAILED, reason=refusal)
            return
        if late:
            # Dialed anyway: the ring gives tts more time, and a prompt that never comes ends the call
            # politely (PromptMissing) rather than leaving the attempt undialed.
            log.warning("dialing before the opening prompts are ready", extra={"late_prompts": late})
            PROMPTS_LATE.add(1)
        rtp = await RtpSession.open(ctx.clock, host=ctx.settings.rtp_host)
        try:
            await _call(ctx, request, events, rtp)
        finally:
            await rtp.close()


def _expired(request: events_pb2.DialRequest) -> bool:
    return bool(request.not_after.ToNanoseconds()) and time.time_ns() > request.not_after.ToNanoseconds()


async def _last_checks(ctx: DialerContext, request: events_pb2.DialRequest) -> str:
    if _expired(request):
        return "expired before dialing"
    # The Request-URI is built here from the E.164 number and the trunk's host and port alone, and
    # the INVITE goes to exactly that host, so the allowlist checks where the call really goes.
    try:
        target = callee_target(request.trunk, request.phone_number)
    except TrunkError as e:
        return str(e)
    if target.host not in {h.strip() for h in ctx.settings.allowed_trunk_hosts.split(",")}:
        return f"trunk host {target.host} not allowed"
    # The scheduler admitted this attempt; since then the callee may have opted out elsewhere, a
    # global DNC entry may have landed, or the window may have closed while the request waited.
    decision = await recheck(
        admission_request(request), dnc=ctx.dnc, audit=ctx.audit, now=now_utc(), store=ctx.counters
    )
    return "" if decision.allowed else decision.status


async def _prepare_prompts(ctx: DialerContext, request: events_pb2.DialRequest) -> list[str]:
    """Requests the personal prompts and waits for the ones before the first question; those still missing.

    A callee may answer at once and hear the disclosure, then the script up to its first question; a
    robot that falls silent there sounds broken and gets reported as spam. Later prompts render while
    the phone rings and the call goes on. Static prompts were rendered at campaign start, but their
    audio can be missing (expired, or still rendering), so the opening ones are checked as well.
    """
    opening = [
        disclosure_text(request.language, request.tenant_display_name, callback_number=request.callback_number),
        *texts_before_first_question(request.script, request.variables),
    ]
    audio_keys: dict[str, str] = {}
    for text in dict.fromkeys([*opening, *_personal_texts(request)]):  # the opening ones first
        audio_keys[text] = await ctx.prompts.request(text, request.voice, request.language)
    if ctx.settings.prompt_ready_before_dial_s <= 0:
        return []
    opening_keys = list(dict.fromkeys(audio_keys[text] for text in opening))
    return await ctx.prompts.wait_ready(opening_keys, ctx.settings.prompt_ready_before_dial_s)


def _personal_texts(request: events_pb2.DialRequest) -> list[str]:
    """Every prompt with contact variables, rendered; the ones the contact lacks variables for are left out."""
    texts: list[str] = []
    for node in request.script.nodes.values():
        text = node_text(node)
        if text and variables_in(text):
            try:
                texts.append(render(text, request.variables))
            except KeyError:
                continue
    return texts


async def _call(ctx: DialerContext, request: events_pb2.DialRequest, events: AttemptEvents, rtp: RtpSession) -> None:
    await events.emit(T.CALL_EVENT_TYPE_DIALING)
    rang: list[int] = []

    def on_progress(code: int) -> None:
        if code in (180, 183) and not rang:
            rang.append(code)

    # Some laws set a least ringing time (us-tcpa: 15 s) so a person can reach the phone.
    min_ring = narrowed_profile(request.compliance_profile, request.calling_hours).min_ring_seconds
    try:
        call = await ctx.trunk.invite(
            callee_target(request.trunk, request.phone_number),  # checked in _last_checks
            from_user=request.caller_id.lstrip("+"),
            rtp_port=rtp.local_port,
            ring_timeout_s=max(ctx.settings.ring_timeout_s, float(min_ring)),
            on_progress=on_progress,
        )
    except CallFailed as failed:
        await record_outcome(request.attempt_id, Outcome.NOT_CONNECTED, store=ctx.counters)
        if rang:
            await events.emit(T.CALL_EVENT_TYPE_RINGING, sip_code=rang[0])
        await events.emit(T.CALL_EVENT_TYPE_FAILED, sip_code=failed.sip_code, reason=failure_reason(failed.sip_code))
        return
    # RTP is taken from the SDP's address only (latched once for NAT): a stray stream cannot answer.
    # Connected before anything else, so a key the callee presses at once is already heard.
    rtp.connect(call.remote_rtp, call.payload_type, nat_latching=ctx.settings.rtp_nat_latching)
    answered_at = time.monotonic()
    # A robot's answered call is a conversation for 230-FZ and the frequency cap.
    await record_outcome(request.attempt_id, Outcome.ANSWERED, store=ctx.counters)
    if rang:
        await events.emit(T.CALL_EVENT_TYPE_RINGING, sip_code=rang[0])
    await events.emit(T.CALL_EVENT_TYPE_ANSWERED, sip_code=200)

    async def on_opt_out() -> None:
        # The callee's own entry: the tenant cannot remove it (only a new consent record lifts it).
        await ctx.dnc.opt_out(request.phone_number, request.tenant_id, attempt=request.attempt_id)
        await events.emit(T.CALL_EVENT_TYPE_OPTED_OUT, reason="opted out in call")

    channel = CallChannel(
        call=call,
        rtp=rtp,
        request=request,
        prompts=ctx.prompts,
        asr=ctx.asr,
        settings=ctx.settings,
        on_opt_out=on_opt_out,
    )
    try:
        # The channel listens for an opt-out and watches the call's length and media from here to the end.
        async with channel:
            outcome = await run_dialog(
                request.script,
                request.variables,
                channel,
                events,
                language=request.language,
                tenant_display_name=request.tenant_display_name,
                callback_number=request.callback_number,
            )
    except PromptMissing:
        # tts is behind (too many personal prompts at once): end politely rather than hold silence.
        log.warning("prompt not ready in time")
        await _hangup(call)
        await events.emit(T.CALL_EVENT_TYPE_COMPLETED, reason="prompt not ready", **_audio_delay(channel, answered_at))
        return
    except Exception as e:
        log.exception("dialog failed")
        outcome_reason = f"dialog error: {type(e).__name__}"
        await _hangup(call)
        await events.emit(T.CALL_EVENT_TYPE_COMPLETED, reason=outcome_reason, **_audio_delay(channel, answered_at))
        return
    await _hangup(call)
    tag = outcome.tags[-1] if outcome.tags else ""
    await events.emit(T.CALL_EVENT_TYPE_COMPLETED, reason=outcome.reason, tag=tag, **_audio_delay(channel, answered_at))


def _audio_delay(channel: CallChannel, answered_at: float) -> dict[str, Duration]:
    """The COMPLETED event's answer-to-first-audio delay; none when the callee heard no robot at all."""
    if channel.first_audio_at is None:
        return {}
    delay = Duration()
    delay.FromNanoseconds(int((channel.first_audio_at - answered_at) * 1e9))
    return {"robot_audio_after_answer": delay}


async def _hangup(call: OutboundCall) -> None:
    if not call.remote_hangup.is_set():
        await call.hangup()
