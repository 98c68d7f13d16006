"""The dialog engine's channel over a live call: prompts out as RTP, replies in through VAD, DTMF and asr."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from obzvon.media.rtp import RtpSession
from obzvon.media.vad import listen_for_utterance
from obzvon.script import OPT_OUT_CONFIRMATION, spoken
from obzvon.sip.uac import OutboundCall
from obzvon.v1 import events_pb2, scripts_pb2

from obzvon_dialer.asr_client import AsrClient
from obzvon_dialer.dialog import CalleeHungUp, Reply
from obzvon_dialer.prompts import PromptAudio, Prompts
from obzvon_dialer.settings import DialerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

EXPECT_TO_UTTERANCE = {
    scripts_pb2.EXPECT_YES_NO: events_pb2.UTTERANCE_EXPECT_YES_NO,
    scripts_pb2.EXPECT_DIGITS: events_pb2.UTTERANCE_EXPECT_DIGITS,
    scripts_pb2.EXPECT_CHOICE: events_pb2.UTTERANCE_EXPECT_CHOICE,
}


class CallChannel:
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
    ) -> None:
        self._call = call
        self._rtp = rtp
        self._request = request
        self._prompts = prompts
        self._asr = asr
        self._settings = settings
        self._on_opt_out = on_opt_out

    async def _until_hangup(self, work: Awaitable[T]) -> T:
        """Runs work unless the callee hangs up first (then CalleeHungUp)."""
        task = asyncio.ensure_future(work)
        hangup = asyncio.ensure_future(self._call.remote_hangup.wait())
        try:
            await asyncio.wait({task, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hangup.cancel()
        if task.done():
            return task.result()
        task.cancel()
        raise CalleeHungUp()

    async def _audio(self, text: str) -> PromptAudio:
        # In the call's codec when tts stored it so (PCMU), else PCM16: see prompts.stored_forms.
        return await self._prompts.audio(text, self._request.voice, self._request.language, self._rtp.payload_type)

    def _play(self, prompt: PromptAudio) -> Awaitable[bool]:
        return self._rtp.play(prompt.data, encoded_as=prompt.encoded_as)

    async def say(self, text: str) -> None:
        prompt = await self._audio(text)
        await self._until_hangup(self._play(prompt))

    async def ask(self, text: str, node: scripts_pb2.AskNode) -> Reply:
        prompt = await self._audio(text)
        return await self._until_hangup(self._ask(prompt, node))

    async def _ask(self, prompt: PromptAudio, node: scripts_pb2.AskNode) -> Reply:
        while not self._rtp.dtmf.empty():  # keys pressed before the question don't answer it
            self._rtp.dtmf.get_nowait()
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
        first = await self._rtp.dtmf.get()
        if node.expect != scripts_pb2.EXPECT_DIGITS or first == "9":
            return first
        pressed = first
        while len(pressed) < node.digits_length:
            try:
                digit = await asyncio.wait_for(self._rtp.dtmf.get(), 5.0)
            except TimeoutError:
                break
            if digit == "#":
                break
            pressed += digit
        return pressed

    async def transfer(self, target_uri: str) -> bool:
        # Bridging to an operator is not built yet: the dialog reports "transfer failed".
        log.warning("transfer requested but not supported", extra={"target": target_uri})
        return False

    async def opt_out(self) -> None:
        await self._on_opt_out()
        text = spoken(OPT_OUT_CONFIRMATION, self._request.language)
        try:
            await self.say(text)
        except CalleeHungUp:
            pass


def _digit_intent(digits: str) -> str:
    return {"1": "yes", "2": "no", "9": "opt_out"}.get(digits, "other")
