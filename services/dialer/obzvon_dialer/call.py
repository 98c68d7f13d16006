"""One attempt, start to end: the last checks before INVITE, the call, the dialog, the outcome.

This is where a call is placed (`place`), and where the last rules run before a phone rings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from google.protobuf.duration_pb2 import Duration
from obzvon.admission import admission_request, narrowed_profile, now_utc
from obzvon.compliance import AuditLog, CounterStore, DncRegistry, Outcome, recheck, record_outcome
from obzvon.log import log_context
from obzvon.media.clock import MediaClock
from obzvon.media.rtp import RtpSession
from obzvon.outcomes import describe, outcome_of_sip
from obzvon.recordings import RecordingStore
from obzvon.script import disclosure_text, node_text, render, variables_in
from obzvon.sip.trunk import TrunkCredentials, TrunkError, callee_target
from obzvon.sip.uac import CallFailed, FailureCause, OutboundCall, SipTrunk
from obzvon.v1 import events_pb2

from obzvon_dialer import metrics
from obzvon_dialer.asr_client import AsrClient
from obzvon_dialer.channel import CallChannel
from obzvon_dialer.dialog import run_dialog, texts_before_first_question
from obzvon_dialer.events import AttemptEvents
from obzvon_dialer.prompts import PromptMissing, Prompts
from obzvon_dialer.recording import CallRecorder, store_recording
from obzvon_dialer.settings import DialerSettings
from obzvon_dialer.transfer import OperatorDesk

log = logging.getLogger(__name__)
T = events_pb2.CallEventType


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is not dialed: its outcome, and the text a person reads (the host, the rule)."""

    detail: events_pb2.OutcomeDetail
    text: str

    @classmethod
    def not_dialed(cls, why: events_pb2.NotDialedReason.ValueType, text: str = "") -> Refusal:
        detail = events_pb2.OutcomeDetail(outcome=events_pb2.CALL_OUTCOME_NOT_DIALED, not_dialed=why)
        return cls(detail, text or describe(detail))


def ended(outcome: events_pb2.CallOutcome.ValueType, *, error_type: str = "") -> dict[str, object]:
    """A final event's outcome fields: the outcome, and its text for people."""
    detail = events_pb2.OutcomeDetail(outcome=outcome, error_type=error_type)
    return {"outcome": detail, "reason": describe(detail)}


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
    trunk_credentials: TrunkCredentials | None = None  # None: no trunk of this dialer asks for digest auth
    recordings: RecordingStore | None = None  # None: this dialer records nothing (a campaign asking is refused)


async def place(ctx: DialerContext, request: events_pb2.DialRequest, events: AttemptEvents) -> None:
    with log_context(tenant_id=request.tenant_id, campaign_id=request.campaign_id, attempt_id=request.attempt_id):
        late: list[str] = []
        refusal = Refusal.not_dialed(events_pb2.NOT_DIALED_REASON_EXPIRED) if _expired(request) else None
        if refusal is None:
            late = await _prepare_prompts(ctx, request)
            # After the wait for prompts (seconds), right before INVITE: an opt-out, DNC entry, closed
            # window or passed deadline that came meanwhile still stops the call.
            refusal = await _wait_for_platform_prompts(ctx, request) or await _last_checks(ctx, request)
        if refusal is not None:
            log.info("not dialed", extra={"reason": refusal.text})
            # No INVITE went out: the daily attempt cap gets its slot back (a sent one keeps it).
            await record_outcome(request.attempt_id, Outcome.NOT_PLACED, store=ctx.counters)
            await events.emit(T.CALL_EVENT_TYPE_FAILED, outcome=refusal.detail, reason=refusal.text)
            return
        if late:
            # Dialed anyway: the ring gives tts more time, and a prompt that never comes ends the call
            # politely (PromptMissing) rather than leaving the attempt undialed.
            log.warning("dialing before the opening prompts are ready", extra={"late_prompts": late})
            metrics.PROMPTS_LATE.inc()
        rtp = await RtpSession.open(ctx.clock, host=ctx.settings.rtp_host)
        # Taps nothing before answer: the session sends and accepts media only once connected.
        recorder = CallRecorder(ctx.settings.max_call_s) if request.record else None
        rtp.tap = recorder
        try:
            await _call(ctx, request, events, rtp)
        finally:
            await rtp.close()
        if recorder is not None and recorder.seconds:
            await _store_recording(ctx, request, events, recorder)


async def _store_recording(
    ctx: DialerContext, request: events_pb2.DialRequest, events: AttemptEvents, recorder: CallRecorder
) -> None:
    """After COMPLETED (the outcome is not held up by the upload): the RECORDED event names the key."""
    if ctx.recordings is None:
        log.error("campaign records calls but this dialer has no recordings store")
        return
    try:
        key = await store_recording(ctx.recordings, request, recorder)
    except Exception:
        # The call itself is over and reported; a store that is down loses this recording only.
        log.exception("recording not stored")
        metrics.RECORDINGS_LOST.inc()
        return
    await events.emit(T.CALL_EVENT_TYPE_RECORDED, recording_key=key)


def _expired(request: events_pb2.DialRequest) -> bool:
    return bool(request.not_after.ToNanoseconds()) and time.time_ns() > request.not_after.ToNanoseconds()


async def _wait_for_platform_prompts(ctx: DialerContext, request: events_pb2.DialRequest) -> Refusal | None:
    """No INVITE without the platform's own prompts in memory (prompts.load_platform, at start-up): they
    are what a callee hears when the campaign's audio is late. While tts is down the request waits, up
    to its not_after, as it would in Kafka for a dialer that is not ready."""
    not_after_ns = request.not_after.ToNanoseconds()
    wait_s = (not_after_ns - time.time_ns()) / 1e9 if not_after_ns else ctx.settings.prompt_ready_before_dial_s
    if await ctx.prompts.platform_ready(max(wait_s, 0.0)):
        return None
    log.warning("platform prompts not loaded: not dialed")
    return Refusal.not_dialed(events_pb2.NOT_DIALED_REASON_EXPIRED, "expired waiting for the platform prompts")


async def _last_checks(ctx: DialerContext, request: events_pb2.DialRequest) -> Refusal | None:
    if _expired(request):
        return Refusal.not_dialed(events_pb2.NOT_DIALED_REASON_EXPIRED)
    # The Request-URI is built here from the E.164 number and the trunk's host and port alone, and
    # the INVITE goes to exactly that host, so the allowlist checks where the call really goes.
    try:
        target = callee_target(request.trunk, request.phone_number)
    except TrunkError as e:
        return Refusal.not_dialed(events_pb2.NOT_DIALED_REASON_TRUNK_NOT_ALLOWED, str(e))
    if target.host not in {h.strip() for h in ctx.settings.allowed_trunk_hosts.split(",")}:
        return Refusal.not_dialed(
            events_pb2.NOT_DIALED_REASON_TRUNK_NOT_ALLOWED, f"trunk host {target.host} not allowed"
        )
    # The scheduler admitted this attempt; since then the callee may have opted out elsewhere, a
    # global DNC entry may have landed, or the window may have closed while the request waited.
    decision = await recheck(
        admission_request(request), dnc=ctx.dnc, audit=ctx.audit, now=now_utc(), store=ctx.counters
    )
    if decision.allowed or decision.rule is None:
        return None
    return Refusal(
        events_pb2.OutcomeDetail(outcome=events_pb2.CALL_OUTCOME_BLOCKED, rule=decision.rule.value), decision.status
    )


async def _prepare_prompts(ctx: DialerContext, request: events_pb2.DialRequest) -> list[str]:
    """Requests the personal prompts and waits for the ones before the first question; those still missing.

    A callee may answer at once and hear the disclosure, then the script up to its first question; a
    robot that falls silent there sounds broken and gets reported as spam. Later prompts render while
    the phone rings and the call goes on. Static prompts were rendered at campaign start, but their
    audio can be missing (expired, or still rendering), so the opening ones are checked as well.
    """
    opening = [
        disclosure_text(
            request.language,
            request.tenant_display_name,
            callback_number=request.callback_number,
            recorded=request.record,
        ),
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
        # A transfer's whisper is personal too ("Клиент {name}"): rendered while the callee's phone rings.
        for text in (node_text(node), node.transfer.whisper if node.HasField("transfer") else ""):
            if text and variables_in(text):
                try:
                    texts.append(render(text, request.variables))
                except KeyError:
                    continue
    return texts


async def _call(ctx: DialerContext, request: events_pb2.DialRequest, events: AttemptEvents, rtp: RtpSession) -> None:
    await events.emit(T.CALL_EVENT_TYPE_DIALING)
    ringing: list[asyncio.Task[None]] = []

    def on_progress(code: int) -> None:
        # Published at the first 180/183, not when the INVITE ends (up to the ring timeout later);
        # a task because this runs inside the SIP stack, awaited before the next event keeps the order.
        if code in (180, 183) and not ringing:
            ringing.append(asyncio.ensure_future(events.emit(T.CALL_EVENT_TYPE_RINGING, sip_code=code)))

    # The trunk's password is read from the campaign record, never carried on Kafka (docs/sip.md).
    credentials = (
        await ctx.trunk_credentials.for_trunk(request.tenant_id, request.campaign_id, request.trunk)
        if ctx.trunk_credentials is not None
        else None
    )

    # Some laws set a least ringing time (us-tcpa: 15 s) so a person can reach the phone.
    min_ring = narrowed_profile(request.compliance_profile, request.calling_hours).min_ring_seconds
    metrics.CALLS.labels(trunk=request.trunk.host).inc()  # the host passed the allowlist: a bounded label
    invited_at = time.monotonic()
    try:
        call = await ctx.trunk.invite(
            callee_target(request.trunk, request.phone_number),  # checked in _last_checks
            from_user=request.caller_id.lstrip("+"),
            rtp_port=rtp.local_port,
            ring_timeout_s=max(ctx.settings.ring_timeout_s, float(min_ring)),
            on_progress=on_progress,
            credentials=credentials,
        )
    except CallFailed as failed:
        await record_outcome(request.attempt_id, Outcome.NOT_CONNECTED, store=ctx.counters)
        if failed.cause is not FailureCause.FINAL_RESPONSE:
            log.warning("call failed", extra={"cause": failed.cause.value, "sip_code": failed.sip_code})
        if ringing:
            await ringing[0]
        failure = events_pb2.OutcomeDetail(outcome=outcome_of_sip(failed.sip_code))
        await events.emit(
            T.CALL_EVENT_TYPE_FAILED,
            sip_code=failed.sip_code,
            outcome=failure,
            reason=describe(failure, failed.sip_code),
        )
        return
    # RTP is taken from the SDP's address only (latched once for NAT): a stray stream cannot answer.
    # Connected before anything else, so a key the callee presses at once is already heard.
    rtp.connect(call.remote_rtp, call.payload_type, nat_latching=ctx.settings.rtp_nat_latching)
    answered_at = time.monotonic()
    metrics.CALL_SETUP.observe(answered_at - invited_at)
    # A robot's answered call is a conversation for 230-FZ and the frequency cap.
    await record_outcome(request.attempt_id, Outcome.ANSWERED, store=ctx.counters)
    if ringing:
        await ringing[0]
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
        # A transfer node's operator is dialled on this call's trunk, with its credentials (transfer.py).
        operators=OperatorDesk(
            ctx.trunk, ctx.clock, ctx.settings.rtp_host, ctx.prompts, request, events, credentials=credentials
        ),
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
                recorded=request.record,
            )
    except PromptMissing:
        # tts is behind (too many personal prompts at once): end politely rather than hold silence.
        log.warning("prompt not ready in time")
        await _hangup(call)
        await events.emit(
            T.CALL_EVENT_TYPE_COMPLETED,
            **ended(events_pb2.CALL_OUTCOME_PROMPT_NOT_READY),
            **_audio_delay(channel, answered_at),
        )
        return
    except Exception as e:
        log.exception("dialog failed")
        await _hangup(call)
        error = ended(events_pb2.CALL_OUTCOME_PROGRAM_ERROR, error_type=type(e).__name__)
        await events.emit(T.CALL_EVENT_TYPE_COMPLETED, **error, **_audio_delay(channel, answered_at))
        return
    await _hangup(call)
    tag = outcome.tags[-1] if outcome.tags else ""
    await events.emit(
        T.CALL_EVENT_TYPE_COMPLETED,
        outcome=outcome.detail,
        reason=outcome.reason,
        tag=tag,
        **_audio_delay(channel, answered_at),
    )


def _audio_delay(channel: CallChannel, answered_at: float) -> dict[str, Duration]:
    """The COMPLETED event's answer-to-first-audio delay; none when the callee heard no robot at all."""
    if channel.first_audio_at is None:
        return {}
    metrics.FIRST_AUDIO.observe(channel.first_audio_at - answered_at)
    delay = Duration()
    delay.FromNanoseconds(int((channel.first_audio_at - answered_at) * 1e9))
    return {"robot_audio_after_answer": delay}


async def _hangup(call: OutboundCall) -> None:
    if not call.remote_hangup.is_set():
        await call.hangup()
