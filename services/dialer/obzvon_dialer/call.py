"""One attempt, start to end: the last checks before INVITE, the call, the dialog, the outcome.

This is where a call is placed (`place`), and where the last rules run before a phone rings.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from obzvon.admission import admission_request, narrowed_profile, now_utc
from obzvon.compliance import AuditLog, CounterStore, DncRegistry, Outcome, recheck, record_outcome
from obzvon.log import log_context
from obzvon.media.clock import MediaClock
from obzvon.media.rtp import RtpSession
from obzvon.script import disclosure_text, node_text, render, variables_in
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
        refusal = await _last_checks(ctx, request)
        late: list[str] = []
        if not refusal:
            late = await _prepare_prompts(ctx, request)
            # Waiting for tts may have taken the request past its deadline.
            refusal = "expired before dialing" if _expired(request) else ""
        if refusal:
            log.info("not dialed", extra={"reason": refusal})
            await record_outcome(request.attempt_id, Outcome.NOT_CONNECTED, store=ctx.counters)
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
    host = urlparse("//" + request.trunk_uri.removeprefix("sip:").split("@", 1)[-1]).hostname or ""
    if host not in {h.strip() for h in ctx.settings.allowed_trunk_hosts.split(",")}:
        return f"trunk host {host or '(none)'} not allowed"
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
        disclosure_text(request.language, request.tenant_display_name),
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
            request.trunk_uri,
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
    # A robot's answered call is a conversation for 230-FZ and the frequency cap.
    await record_outcome(request.attempt_id, Outcome.ANSWERED, store=ctx.counters)
    if rang:
        await events.emit(T.CALL_EVENT_TYPE_RINGING, sip_code=rang[0])
    await events.emit(T.CALL_EVENT_TYPE_ANSWERED, sip_code=200)
    rtp.connect(call.remote_rtp, call.payload_type)

    async def on_opt_out() -> None:
        await ctx.dnc.add(request.phone_number, request.tenant_id)
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
        outcome = await run_dialog(
            request.script,
            request.variables,
            channel,
            events,
            language=request.language,
            tenant_display_name=request.tenant_display_name,
        )
    except PromptMissing:
        # tts is behind (too many personal prompts at once): end politely rather than hold silence.
        log.warning("prompt not ready in time")
        await _hangup(call)
        await events.emit(T.CALL_EVENT_TYPE_COMPLETED, reason="prompt not ready")
        return
    except Exception as e:
        log.exception("dialog failed")
        outcome_reason = f"dialog error: {type(e).__name__}"
        await _hangup(call)
        await events.emit(T.CALL_EVENT_TYPE_COMPLETED, reason=outcome_reason)
        return
    await _hangup(call)
    await events.emit(T.CALL_EVENT_TYPE_COMPLETED, reason=outcome.reason, tag=outcome.tags[-1] if outcome.tags else "")


async def _hangup(call: OutboundCall) -> None:
    if not call.remote_hangup.is_set():
        await call.hangup()
