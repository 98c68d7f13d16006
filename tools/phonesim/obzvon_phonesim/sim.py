"""The simulated phones: pick a behaviour per INVITE, act it out, log the ground truth."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from aiosipua.headers import parse_uri
from obzvon.media import FRAME_BYTES, SAMPLE_RATE, MediaClock, RtpSession
from obzvon.media.g711 import rms
from obzvon.media.vad import UtteranceDetector, VadEventKind
from obzvon.sip import IncomingCall, SipUas

from obzvon_phonesim import voices
from obzvon_phonesim.operator import OperatorPersona, act_operator

log = logging.getLogger(__name__)

# What each answering behaviour says once the robot has finished speaking.
REPLIES: dict[str, str] = {
    "yes": "да",
    "no": "нет",
    "optout": "не звоните мне больше",
}
# Keypad answers (RFC 4733) given once the robot has finished speaking.
KEYPRESSES: dict[str, str] = {"press1": "1", "press2": "2", "press9": "9"}
ANSWERING = ("yes", "no", "optout", "silence", "hangup_early", *KEYPRESSES)
BEHAVIOURS = (*ANSWERING, "busy", "no_answer", "unreachable", "decline")
REJECT_CODES = {"busy": 486, "unreachable": 480, "decline": 603}
VOICED_RMS = 300
DTMF_TONE_S = 0.1  # RtpSession.send_dtmf: each digit's event lasts 100 ms


def parse_mix(spec: str | Mapping[str, float]) -> dict[str, float]:
    """'yes=0.6,no=0.2' -> normalised weights; unknown behaviours are an error."""
    raw: dict[str, float] = {}
    if isinstance(spec, str):
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, weight = part.partition("=")
            raw[name.strip()] = float(weight) if weight else 1.0
    else:
        raw = dict(spec)
    unknown = set(raw) - set(BEHAVIOURS)
    if unknown:
        raise ValueError(f"unknown behaviours {sorted(unknown)}; known: {', '.join(BEHAVIOURS)}")
    total = sum(raw.values())
    if total <= 0:
        raise ValueError("the mix needs at least one positive weight")
    return {k: v / total for k, v in raw.items() if v > 0}


def request_uri_record(uri: str) -> dict[str, Any]:
    parsed = parse_uri(uri)
    return {
        "request_uri": uri,
        "request_user": parsed.user or "",
        "request_host": parsed.host,
        "request_port": parsed.port or 5060,
    }


class GroundTruth:
    def __init__(self, path: Path | None) -> None:
        self._fh: TextIO | None = path.open("a", encoding="utf-8") if path is not None else None

    def write(self, record: dict[str, Any]) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._fh.flush()  # readers (tests, reports) tail the file while calls run

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


class PhoneSimulator:
    """Async context manager running the phone farm in-process.

    Timings are parameters so tests can be fast: `ring_s` before answering, `max_ring_s`
    for no_answer (then 480), `early_hangup_s` for hangup_early, `listen_timeout_s` for the
    robot to speak, `end_silence_ms` of silence that ends the robot's turn, `max_call_s`
    after which the phone hangs up itself.
    """

    def __init__(
        self,
        *,
        sip_port: int = 0,
        host: str = "127.0.0.1",
        ground_truth: Path | None = None,
        mix: str | Mapping[str, float] = "yes=1",
        rules: Mapping[str, str] | None = None,
        seed: int = 0,
        ring_s: float = 1.0,
        max_ring_s: float = 120.0,
        early_hangup_s: float = 1.0,
        listen_timeout_s: float = 15.0,
        end_silence_ms: int = 700,
        max_call_s: float = 60.0,
        voice_cache: Path | None = None,
        clock: MediaClock | None = None,
        operators: Mapping[str, OperatorPersona] | None = None,
    ) -> None:
        if host != "127.0.0.1":
            raise ValueError("the phone simulator only listens on 127.0.0.1")
        self.mix = parse_mix(mix)
        self.rules = dict(rules or {})
        bad = set(self.rules.values()) - set(BEHAVIOURS)
        if bad:
            raise ValueError(f"unknown behaviours in rules: {sorted(bad)}")
        self.seed = seed
        self.sip_port = sip_port
        self.host = host
        self.ring_s = ring_s
        self.max_ring_s = max_ring_s
        self.early_hangup_s = early_hangup_s
        self.listen_timeout_s = listen_timeout_s
        self.end_silence_ms = end_silence_ms
        self.max_call_s = max_call_s
        self.voice_cache = voice_cache
        self.operators = dict(operators or {})  # extension -> persona (operator.py): a transfer's far end
        self._truth = GroundTruth(ground_truth)
        self._own_clock = clock is None
        self.clock = clock or MediaClock()
        self._uas: SipUas | None = None
        self._replies: dict[str, bytes] = {}
        self._attempts: dict[str, int] = {}
        self.calls: list[dict[str, Any]] = []  # call_end records, for in-process tests

    @property
    def port(self) -> int:
        assert self._uas is not None, "simulator not started"
        return self._uas.local_port

    async def start(self) -> None:
        needed = {b for b in (*self.mix, *self.rules.values()) if b in REPLIES}
        for behaviour in sorted(needed):
            self._replies[behaviour] = await voices.render(REPLIES[behaviour], cache_dir=self.voice_cache)
        self._uas = await SipUas.start(self._handle, self.host, self.sip_port)

    async def close(self) -> None:
        if self._uas is not None:
            await self._uas.close()
            self._uas = None
        if self._own_clock:
            await self.clock.close()
        self._truth.close()

    async def __aenter__(self) -> PhoneSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def reply_audio(self, behaviour: str) -> bytes:
        return self._replies.get(behaviour, b"")

    def choose(self, number: str) -> str:
        if number in self.rules:
            return self.rules[number]
        # Seeded per number and attempt, so concurrency does not change who does what.
        n = self._attempts.get(number, 0)
        self._attempts[number] = n + 1
        r = random.Random(f"{self.seed}:{number}:{n}").random()
        acc = 0.0
        for name, weight in self.mix.items():
            acc += weight
            if r < acc:
                return name
        return next(reversed(self.mix))

    async def _handle(self, call: IncomingCall) -> None:
        if call.to_user in self.operators:
            operator_call = await act_operator(call, self.operators[call.to_user], self.clock, self.host)
            self._truth.write({"event": "operator_call", "call_id": call.call_id, **operator_call, "ts": time.time()})
            return
        behaviour = self.choose(call.to_user)
        record: dict[str, Any] = {
            "event": "invite",
            "call_id": call.call_id,
            "to_number": call.to_user,
            # Where the INVITE was addressed, so tests can check the number and host the dialer built.
            **request_uri_record(call.request.uri),
            "from": call.from_user,
            "behaviour": behaviour,
            "reply_text": REPLIES.get(behaviour, ""),
            "dtmf": KEYPRESSES.get(behaviour, ""),
            "answered": False,
            "heard_robot_ms": 0,
            "ts": time.time(),
        }
        self._truth.write(record)
        outcome: dict[str, Any] = {"sip_code": 0, "ended_by": "", "replied": False}
        try:
            await self._act(call, behaviour, record, outcome)
        finally:
            end = {**record, **outcome, "event": "call_end", "ts": time.time()}
            self._truth.write(end)
            self.calls.append(end)

    async def _act(self, call: IncomingCall, behaviour: str, record: dict[str, Any], outcome: dict[str, Any]) -> None:
        if behaviour in REJECT_CODES:
            outcome["sip_code"] = REJECT_CODES[behaviour]
            await call.reject(REJECT_CODES[behaviour])
            return
        call.ring(180)
        ring_for = self.max_ring_s if behaviour == "no_answer" else self.ring_s
        try:
            async with asyncio.timeout(ring_for):
                await call.cancelled.wait()
            outcome.update(sip_code=487, ended_by="cancel")
            return
        except TimeoutError:
            pass
        if behaviour == "no_answer":
            outcome.update(sip_code=480, ended_by="phone")
            await call.reject(480)
            return
        if call.remote_rtp is None or not call.offer or not call.offer.payload_types:
            outcome["sip_code"] = 488
            await call.reject(488)
            return
        rtp = await RtpSession.open(self.clock, self.host)
        try:
            heard = _Ear(self.end_silence_ms)
            rtp.on_frame = heard.feed
            if not await call.answer(rtp.local_port):
                outcome.update(sip_code=200 if call.answered else 487, ended_by="cancel")
                return
            record["answered"] = True
            outcome["sip_code"] = 200
            assert call.payload_type is not None
            rtp.connect(call.remote_rtp, call.payload_type, call.dtmf_payload_type)
            await self._converse(call, rtp, heard, behaviour, outcome)
            record["heard_robot_ms"] = heard.voiced_ms
            # The turn latency the callee lives through: from the end of its reply (the last frame
            # of «да», or the end of the key's tone) to the robot's next speech; None without both.
            outcome["robot_audio_after_reply_ms"] = heard.robot_audio_after_reply_ms
        finally:
            await rtp.close()

    async def _converse(
        self, call: IncomingCall, rtp: RtpSession, heard: _Ear, behaviour: str, outcome: dict[str, Any]
    ) -> None:
        loop = asyncio.get_running_loop()
        hangup_at = loop.time() + (self.early_hangup_s if behaviour == "hangup_early" else self.max_call_s)

        async def until(aw: asyncio.Event, deadline: float) -> bool:
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await aw.wait()
                return True
            except TimeoutError:
                return False

        if behaviour in REPLIES or behaviour in KEYPRESSES:
            listen_until = min(hangup_at, loop.time() + self.listen_timeout_s)
            turn_over = asyncio.ensure_future(heard.turn_over.wait())
            bye = asyncio.ensure_future(call.remote_hangup.wait())
            await asyncio.wait(
                {turn_over, bye},
                timeout=max(0.0, listen_until - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            turn_over.cancel()
            bye.cancel()
            if call.remote_hangup.is_set():
                outcome["ended_by"] = "robot"
                return
            if heard.turn_over.is_set() and behaviour in KEYPRESSES:
                digits = KEYPRESSES[behaviour]
                rtp.send_dtmf(digits)
                outcome["replied"] = True
                heard.reply_ended(time.monotonic() + DTMF_TONE_S * len(digits))
            elif heard.turn_over.is_set():
                play = asyncio.ensure_future(rtp.play(self._replies[behaviour]))
                bye = asyncio.ensure_future(call.remote_hangup.wait())
                await asyncio.wait({play, bye}, return_when=asyncio.FIRST_COMPLETED)
                bye.cancel()
                outcome["replied"] = play.done() and play.result()
                if outcome["replied"]:
                    # The callee stopped speaking at its last voiced frame, not at the file's quiet tail.
                    heard.reply_ended(time.monotonic() - _quiet_tail_s(self._replies[behaviour]))
                if not play.done():
                    rtp.stop_playback()
                    await play
        if await until(call.remote_hangup, hangup_at):
            outcome["ended_by"] = "robot"
        else:
            outcome["ended_by"] = "phone"
            await call.hangup()


def _quiet_tail_s(pcm16: bytes) -> float:
    """How long the audio ends in frames below the voiced level (a rendered reply's trailing pause)."""
    frames = [pcm16[i : i + FRAME_BYTES] for i in range(0, len(pcm16), FRAME_BYTES)]
    quiet = 0
    for frame in reversed(frames):
        if rms(frame) >= VOICED_RMS:
            break
        quiet += 1
    return quiet * FRAME_BYTES / 2 / SAMPLE_RATE


class _Ear:
    """Listens to the robot: how much speech it heard, and when its first turn ended."""

    def __init__(self, end_silence_ms: int) -> None:
        # A robot's turn (disclosure, greeting, question) runs well past any single utterance cap:
        # only silence ends it, never its length.
        self._det = UtteranceDetector(
            threshold_rms=VOICED_RMS, end_silence_ms=end_silence_ms, min_speech_ms=100, max_utterance_s=600.0
        )
        self.voiced_frames = 0
        self.turn_over = asyncio.Event()
        self._reply_ended_at: float | None = None  # time.monotonic()
        self._robot_spoke_again_at: float | None = None

    @property
    def voiced_ms(self) -> int:
        return self.voiced_frames * 20

    @property
    def robot_audio_after_reply_ms(self) -> int | None:
        if self._reply_ended_at is None or self._robot_spoke_again_at is None:
            return None
        return round((self._robot_spoke_again_at - self._reply_ended_at) * 1000)

    def reply_ended(self, at: float) -> None:
        """The callee finished its reply at `at` (monotonic); the robot's next speech after it is timed."""
        self._reply_ended_at = at

    def feed(self, frame: bytes) -> None:
        if rms(frame) >= VOICED_RMS:
            self.voiced_frames += 1
            now = time.monotonic()
            if self._reply_ended_at is not None and self._robot_spoke_again_at is None and now >= self._reply_ended_at:
                self._robot_spoke_again_at = now
        ev = self._det.feed(frame)
        if ev is not None and ev.kind is VadEventKind.UTTERANCE_END:
            self.turn_over.set()
