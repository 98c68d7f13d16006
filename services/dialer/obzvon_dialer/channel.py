"""The dialog engine's channel over a live call: prompts out as RTP, replies in through VAD, DTMF and asr.

From answer to hangup the channel listens for an opt-out whatever the dialog does: key 9 at any moment
(a key pressed while the robot speaks is not lost), and outside questions every utterance goes to asr
to hear «не звоните» / "stop calling"; either stops the prompt and raises CalleeOptedOut. Ordinary
speech does not stop a say node (only a question's prompt yields to barge-in): a callee's «алло» over
the disclosure must not cut it short. It also ends every call: after `max_call_s`, or when the callee's
RTP has been silent for `rtp_inactivity_s` (CallCutOff).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from obzvon.media.rtp import RtpSession
from obzvon.media.vad import UtteranceDetector, VadEventKind, listen_for_utterance
from obzvon.script import OPT_OUT_CONFIRMATION, spoken
from obzvon.sip.uac import OutboundCall
from obzvon.v1 import events_pb2, scripts_pb2

from obzvon_dialer import metrics
from obzvon_dialer.asr_client import AsrClient
from obzvon_dialer.dialog import OPT_OUT_KEY, CallCutOff, CalleeHungUp, CalleeOptedOut, CutOff, Reply
from obzvon_dialer.prompts import PlatformSentence, PromptAudio, PromptMissing, Prompts
from obzvon_dialer.settings import DialerSettings
from obzvon_dialer.transfer import OperatorDesk

log = logging.getLogger(__name__)
T = TypeVar("T")

EXPECT_TO_UTTERANCE = {
    scripts_pb2.EXPECT_YES_NO: events_pb2.UTTERANCE_EXPECT_YES_NO,
    scripts_pb2.EXPECT_DIGITS: events_pb2.UTTERANCE_EXPECT_DIGITS,
    scripts_pb2.EXPECT_CHOICE: events_pb2.UTTERANCE_EXPECT_CHOICE,
}
# Utterances heard outside questions waiting for asr; more at once are dropped (the budget bounds the rest).
PENDING_UTTERANCES = 2


class CallChannel:
    """Use as `async with channel:` around the dialog: the listeners run from answer to the end."""

    def __init__(
        self,
        *,
        call: OutboundCall,
        rtp: RtpSession,
        request: events_pb2.DialRequest,
        prompts: Prompts,
        asr: AsrClient,
        settings: DialerSettings,
        on_opt_out: Callable[[], Awaitable[None]],
        operators: OperatorDesk | None = None,
    ) -> None:
        self._call = call
        self._rtp = rtp
        self._request = request
        self._prompts = prompts
        self._asr = asr
        self._settings = settings
        self._on_opt_out = on_opt_out
        self._operators = operators  # None: this channel cannot transfer (the dialog reports it failed)
        # While bridged to an operator, the callee's audio goes to them, not to VAD and asr.
        self._bridge_to: Callable[[bytes], None] | None = None
        # Keys other than an opt-out, for the question being asked (9 never lands here).
        self._keys: asyncio.Queue[str] = asyncio.Queue()
        self._entering_digits = False  # inside a digits answer, 9 is a digit
        self._asking = False  # a question listens (and recognises) itself
        self._opt_out_heard = False
        self._opted_out = False
        self._ended: CalleeHungUp | CallCutOff | None = None
        self._interrupted = asyncio.Event()  # set while _opt_out_heard or _ended
        self._detector = UtteranceDetector(
            end_silence_ms=settings.end_of_speech_ms, max_utterance_s=settings.max_utterance_s
        )
        self._utterances: asyncio.Queue[bytes] = asyncio.Queue(maxsize=PENDING_UTTERANCES)
        self._recognitions_left = settings.opt_out_recognitions_per_call
        self._budget_spent_logged = False
        self._recognizing = False
        self._listening_changed = asyncio.Event()  # speech began or ended, or a recognition finished
        self._tasks: list[asyncio.Task[None]] = []
        self._frames_before: Callable[[bytes], None] | None = None
        # time.monotonic() when the robot's first prompt began: answer-to-audio delay (abandoned calls).
        self.first_audio_at: float | None = None
        # time.monotonic() when the callee's answer to a question ended (VAD): turn latency, until the next audio.
        self._answer_heard_at: float | None = None

    async def __aenter__(self) -> CallChannel:
        self._frames_before = self._rtp.on_frame
        self._rtp.on_frame = self._hear
        self._tasks = [
            asyncio.create_task(self._watch_keys(), name="call-keys"),
            asyncio.create_task(self._watch_call(), name="call-watch"),
            asyncio.create_task(self._recognize_speech(), name="call-opt-out-asr"),
        ]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._rtp.on_frame = self._frames_before
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- what stops the dialog ----------------------------------------------------------------

    def _interrupt(self, why: CalleeOptedOut | CalleeHungUp | CallCutOff) -> None:
        if isinstance(why, CalleeOptedOut):
            if self._opted_out:
                return  # the confirmation is playing; a second 9 changes nothing
            if not self._opt_out_heard:
                log.info("callee opted out during the call")
            self._opt_out_heard = True
        elif self._ended is None:
            self._ended = why
        self._rtp.stop_playback()
        self._interrupted.set()

    def _raise_if_interrupted(self) -> None:
        # An opt-out comes first: the number goes on the DNC list even if the callee then hung up.
        if self._opt_out_heard:
            raise CalleeOptedOut()
        if self._ended is not None:
            raise self._ended

    async def _guarded(self, work: Coroutine[Any, Any, T]) -> T:
        """Runs work unless the callee opts out, hangs up or the call is cut off first (then raises that)."""
        if self._interrupted.is_set():
            work.close()
            self._raise_if_interrupted()
        task = asyncio.ensure_future(work)
        interrupted = asyncio.ensure_future(self._interrupted.wait())
        try:
            await asyncio.wait({task, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()  # the dialog itself is cancelled (dialer shutting down): so is its prompt
            raise
        finally:
            interrupted.cancel()
        if not self._interrupted.is_set():
            return task.result()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task  # let its cleanup run; what it would have returned no longer matters
        self._raise_if_interrupted()
        raise AssertionError("interrupted without a reason")  # unreachable: set only with a reason

    async def _watch_keys(self) -> None:
        while True:
            key = await self._rtp.dtmf.get()
            # Bridged, keys are for the operator's conversation: the robot no longer acts on them.
            if key == OPT_OUT_KEY and not self._entering_digits and self._bridge_to is None:
                self._interrupt(CalleeOptedOut())
            else:
                self._keys.put_nowait(key)

    async def _watch_call(self) -> None:
        """Ends the call on hangup, past its length limit, or when the callee's media stops."""
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + self._settings.max_call_s
        hangup = asyncio.ensure_future(self._call.remote_hangup.wait())
        try:
            while True:
                now = loop.time()
                silent_until = self._rtp.last_received_at + self._settings.rtp_inactivity_s
                if now >= ends_at:
                    log.info("call cut off", extra={"reason": CutOff.MAX_CALL_LENGTH.value})
                    self._interrupt(CallCutOff(CutOff.MAX_CALL_LENGTH))
                    return
                if now >= silent_until:
                    log.info("call cut off", extra={"reason": CutOff.RTP_INACTIVITY.value})
                    self._interrupt(CallCutOff(CutOff.RTP_INACTIVITY))
                    return
                # Packets only move silent_until later, so nothing can end the call before this wakes.
                await asyncio.wait({hangup}, timeout=min(ends_at, silent_until) - now)
                if hangup.done():
                    self._interrupt(CalleeHungUp())
                    return
        finally:
            hangup.cancel()

    # -- listening for an opt-out outside questions ------------------------------------------

    def _hear(self, frame: bytes) -> None:
        if self._frames_before is not None:
            self._frames_before(frame)
        if self._bridge_to is not None:
            self._bridge_to(frame)
            return
        if self._asking or self._opted_out:
            self._detector.reset()
            return
        event = self._detector.feed(frame)
        if event is None:
            return
        self._listening_changed.set()
        if event.kind is not VadEventKind.UTTERANCE_END:
            return
        if self._recognitions_left <= 0:
            if not self._budget_spent_logged:
                log.info("opt-out recognition budget spent: speech is heard at questions only")
                self._budget_spent_logged = True
            return
        try:
            self._utterances.put_nowait(event.audio)
        except asyncio.QueueFull:
            return  # asr is behind on this call; keys still opt out at once
        self._recognitions_left -= 1

    async def _recognize_speech(self) -> None:
        while True:
            audio = await self._utterances.get()
            self._recognizing = True
            try:
                result = await self._asr.recognize(
                    call_id=self._call.call_id,
                    request=self._request,
                    audio=audio,
                    expect=events_pb2.UTTERANCE_EXPECT_FREE,
                    choices=[],
                )
            except Exception as e:  # asr late or the bus down: the call goes on, keys still work
                log.warning("opt-out recognition failed", extra={"error": type(e).__name__})
                continue
            finally:
                self._recognizing = False
                self._listening_changed.set()
            if not result.error and result.intent == "opt_out":
                self._interrupt(CalleeOptedOut())

    async def finish_listening(self) -> None:
        async def settled() -> None:
            while self._detector.in_speech or not self._utterances.empty() or self._recognizing:
                self._listening_changed.clear()
                await self._listening_changed.wait()

        bound = self._settings.max_utterance_s + self._settings.asr_timeout_s
        with contextlib.suppress(TimeoutError):
            await self._guarded(asyncio.wait_for(settled(), bound))

    # -- the dialog's calls -------------------------------------------------------------------

    async def _audio(self, text: str) -> PromptAudio:
        """The prompt's audio, in the call's codec when tts stored it so (PCMU), else PCM16 (prompts.stored_forms).

        One not stored yet is asked of tts and waited for (prompts' wait_s, from now). A callee who has
        heard nothing yet (the disclosure is the call's first prompt) hears the platform's opening
        meanwhile: first audio at once, never silence. One that does not come in time ends the call
        politely (the platform's ending, then PromptMissing: the call hangs up, "prompt not ready").
        """
        voice, language, payload_type = self._request.voice, self._request.language, self._rtp.payload_type
        prompt = await self._prompts.cached(text, voice, language, payload_type)
        if prompt is not None:
            return prompt
        fetch = asyncio.ensure_future(self._prompts.audio(text, voice, language, payload_type))
        try:
            if self.first_audio_at is None:
                log.warning("prompt not ready at answer: the platform's opening plays first")
                await self._play(self._prompts.platform(PlatformSentence.OPENING, language, payload_type))
            return await fetch
        except PromptMissing:
            log.warning("prompt not ready in time: the call ends politely")
            await self._play(self._prompts.platform(PlatformSentence.ENDING, language, payload_type))
            raise
        finally:
            if not fetch.done():
                fetch.cancel()
            fetch.add_done_callback(_retrieved)

    def _play(self, prompt: PromptAudio) -> Awaitable[bool]:
        if self.first_audio_at is None:
            self.first_audio_at = time.monotonic()
        if self._answer_heard_at is not None:
            metrics.TURN_LATENCY.observe(time.monotonic() - self._answer_heard_at)
            self._answer_heard_at = None
        return self._rtp.play(prompt.data, encoded_as=prompt.encoded_as)

    async def say(self, text: str) -> None:
        await self._guarded(self._say(text))

    async def _say(self, text: str) -> None:
        await self._play(await self._audio(text))

    async def ask(self, text: str, node: scripts_pb2.AskNode) -> Reply:
        return await self._guarded(self._ask_text(text, node))

    async def _ask_text(self, text: str, node: scripts_pb2.AskNode) -> Reply:
        prompt = await self._audio(text)
        self._asking = True
        try:
            return await self._ask(prompt, node)
        finally:
            self._asking = False

    async def _ask(self, prompt: PromptAudio, node: scripts_pb2.AskNode) -> Reply:
        while not self._keys.empty():  # keys pressed before the question don't answer it (a 9 already opted out)
            self._keys.get_nowait()
        play = asyncio.ensure_future(self._play(prompt))
        # Listening starts with the prompt: speech during it is barge-in and stops the prompt.
        utterance = asyncio.ensure_future(
            listen_for_utterance(
                self._rtp,
                no_input_timeout=prompt.duration_s + self._settings.no_input_timeout_s,
                max_utterance_s=self._settings.max_utterance_s,
                end_silence_ms=self._settings.end_of_speech_ms,
                on_speech_start=self._rtp.stop_playback,
            )
        )
        digits = asyncio.ensure_future(self._collect_digits(node))
        try:
            done, _ = await asyncio.wait({utterance, digits}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._rtp.stop_playback()
            for task in (play, utterance, digits):
                if not task.done():
                    task.cancel()
        if digits in done and digits.result():
            pressed = digits.result()
            return Reply(intent=_digit_intent(pressed), digits=pressed, confidence=1.0)
        audio = utterance.result() if utterance in done else None
        if not audio:
            return Reply(intent="no_input")
        self._answer_heard_at = time.monotonic()
        try:
            result = await self._asr.recognize(
                call_id=self._call.call_id,
                request=self._request,
                audio=audio,
                expect=EXPECT_TO_UTTERANCE.get(node.expect, events_pb2.UTTERANCE_EXPECT_FREE),
                choices=list(node.choices),
            )
        except TimeoutError:
            # asr is overloaded: the script's no_match path (a repeat of the question) beats silence.
            log.warning("asr answered too late", extra={"timeout_s": self._settings.asr_timeout_s})
            return Reply(intent="no_match", text="(asr timeout)")
        if result.error:
            log.warning("asr error", extra={"error": result.error})
            return Reply(intent="no_match")
        return Reply(
            intent=result.intent or "other",
            text=result.text,
            confidence=result.confidence,
            decided_by=result.decided_by,
        )

    async def _collect_digits(self, node: scripts_pb2.AskNode) -> str:
        first = await self._keys.get()
        if node.expect != scripts_pb2.EXPECT_DIGITS:
            return first
        pressed = first
        # Once a digits answer has begun, 9 is one of its digits (a year, a code), not an opt-out.
        self._entering_digits = True
        try:
            while len(pressed) < node.digits_length:
                try:
                    digit = await asyncio.wait_for(self._keys.get(), 5.0)
                except TimeoutError:
                    break
                if digit == "#":
                    break
                pressed += digit
        finally:
            self._entering_digits = False
        return pressed

    async def transfer(self, transfer: scripts_pb2.TransferNode, whisper: str) -> bool:
        """Rings the operator (ringback meanwhile), then relays both legs until either hangs up (transfer.py).

        While it rings, an opt-out, hangup or cut-off still stops it (the operator's INVITE is CANCELled).
        Once bridged, the callee's hangup ends the transfer as answered; the max call length still applies
        (CallCutOff, after the operator's leg is released).
        """
        if self._operators is None:
            log.warning("transfer requested on a channel without an operator desk")
            return False
        desk = self._operators
        leg = await self._guarded(desk.dial(transfer, whisper, self._rtp))
        if leg is None:
            return False
        self._bridge_to = leg.rtp.relay
        leg.rtp.on_frame = self._rtp.relay
        try:
            await desk.bridged(leg, self._interrupted)
        finally:
            self._bridge_to = None
            leg.rtp.on_frame = None
            await desk.release(leg)
        if isinstance(self._ended, CallCutOff):
            raise self._ended
        return True

    async def opt_out(self) -> None:
        self._opted_out = True
        self._opt_out_heard = False
        if self._ended is None:
            self._interrupted.clear()  # the confirmation is said; a hangup or cut-off still stops it
        await self._on_opt_out()
        # The number is on the DNC list already: without any confirmation audio the call just ends.
        with contextlib.suppress(CalleeHungUp, CallCutOff, PromptMissing):
            await self._guarded(self._confirm_opt_out())

    async def _confirm_opt_out(self) -> None:
        voice, language, payload_type = self._request.voice, self._request.language, self._rtp.payload_type
        prompt = await self._prompts.cached(spoken(OPT_OUT_CONFIRMATION, language), voice, language, payload_type)
        if prompt is None:
            # Not rendered in the campaign's voice (yet): the platform's own at once; a callee who asked
            # to be left alone is not kept waiting for tts, nor told "we will call back".
            prompt = self._prompts.platform(PlatformSentence.OPT_OUT_CONFIRMATION, language, payload_type)
        await self._play(prompt)


def _retrieved(task: asyncio.Future[PromptAudio]) -> None:
    """Marks a prompt fetch's outcome as seen: a fetch left behind (the call ended first) is not an error."""
    if not task.cancelled():
        task.exception()


def _digit_intent(digits: str) -> str:
    return {"1": "yes", "2": "no", "9": "opt_out"}.get(digits, "other")
