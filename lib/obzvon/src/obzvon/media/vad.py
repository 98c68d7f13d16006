"""Energy-based end-pointing for telephone audio.

Deliberately simple: on a G.711 line the robot needs "someone started talking" (barge-in)
and "they stopped" (send to ASR) within tens of milliseconds; a frame RMS threshold with
hangover does that at a few microseconds per frame. Silero (in faster-whisper) stays in ASR.
"""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import Callable
from dataclasses import dataclass

from obzvon.media import g711
from obzvon.media.rtp import RtpSession

FRAME_MS = g711.FRAME_MS


class VadEventKind(enum.Enum):
    SPEECH_START = "speech_start"
    UTTERANCE_END = "utterance_end"
    DISCARDED = "discarded"  # a blip shorter than min_speech_ms


@dataclass(frozen=True)
class VadEvent:
    kind: VadEventKind
    audio: bytes = b""  # the utterance, for UTTERANCE_END
    speech_ms: int = 0


class UtteranceDetector:
    """Feed 20 ms PCM16 frames; get SPEECH_START, then UTTERANCE_END with the audio.

    Speech starts after `start_ms` of consecutive frames above `threshold_rms` (short clicks
    do not barge in); the utterance ends after `end_silence_ms` below it. The returned audio
    includes `pre_roll_ms` before the start so word onsets are not clipped for ASR, and is
    cut at `max_utterance_s`.
    """

    def __init__(
        self,
        *,
        threshold_rms: int = 300,
        start_ms: int = 60,
        end_silence_ms: int = 700,
        min_speech_ms: int = 200,
        pre_roll_ms: int = 200,
        max_utterance_s: float = 15.0,
    ) -> None:
        self.threshold_rms = threshold_rms
        self._start_frames = max(1, start_ms // FRAME_MS)
        self._end_frames = max(1, end_silence_ms // FRAME_MS)
        self._min_speech_frames = max(1, min_speech_ms // FRAME_MS)
        self._max_frames = int(max_utterance_s * 1000 / FRAME_MS)
        # Holds the onset frames plus pre_roll_ms before them.
        self._pre_roll: collections.deque[bytes] = collections.deque(
            maxlen=self._start_frames + pre_roll_ms // FRAME_MS
        )
        self.in_speech = False
        self._voiced_run = 0
        self._silence_run = 0
        self._speech_frames = 0
        self._audio: list[bytes] = []

    def reset(self) -> None:
        self.in_speech = False
        self._voiced_run = 0
        self._silence_run = 0
        self._speech_frames = 0
        self._audio = []
        self._pre_roll.clear()

    def feed(self, frame: bytes) -> VadEvent | None:
        voiced = g711.rms(frame) >= self.threshold_rms
        if not self.in_speech:
            self._pre_roll.append(frame)
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= self._start_frames:
                self.in_speech = True
                self._audio = list(self._pre_roll)
                self._pre_roll.clear()
                self._speech_frames = self._voiced_run
                self._silence_run = 0
                return VadEvent(VadEventKind.SPEECH_START)
            return None
        self._audio.append(frame)
        if voiced:
            self._speech_frames += 1 + self._silence_run  # pauses inside speech count as speech
            self._silence_run = 0
        else:
            self._silence_run += 1
        if self._silence_run >= self._end_frames or len(self._audio) >= self._max_frames:
            return self._finish()
        return None

    def _finish(self) -> VadEvent:
        speech_frames = self._speech_frames
        audio = b"".join(self._audio)
        self.reset()
        if speech_frames < self._min_speech_frames:
            return VadEvent(VadEventKind.DISCARDED, speech_ms=speech_frames * FRAME_MS)
        return VadEvent(VadEventKind.UTTERANCE_END, audio=audio, speech_ms=speech_frames * FRAME_MS)


async def listen_for_utterance(
    session: RtpSession,
    *,
    no_input_timeout: float,
    max_utterance_s: float = 15.0,
    end_silence_ms: int = 700,
    on_speech_start: Callable[[], None] | None = None,
    detector: UtteranceDetector | None = None,
) -> bytes | None:
    """The next utterance heard on `session`, or None when nobody spoke within no_input_timeout.

    `on_speech_start` fires as soon as speech begins, e.g. to stop a prompt (barge-in). The
    session's existing `on_frame` keeps receiving frames while this listens.
    """
    det = detector or UtteranceDetector(end_silence_ms=end_silence_ms, max_utterance_s=max_utterance_s)
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    result: asyncio.Future[bytes] = loop.create_future()
    previous = session.on_frame

    def on_frame(frame: bytes) -> None:
        if previous is not None:
            previous(frame)
        if result.done():
            return
        ev = det.feed(frame)
        if ev is None:
            return
        if ev.kind is VadEventKind.SPEECH_START:
            started.set()
            if on_speech_start is not None:
                on_speech_start()
        elif ev.kind is VadEventKind.UTTERANCE_END:
            result.set_result(ev.audio)

    session.on_frame = on_frame
    try:
        try:
            async with asyncio.timeout(no_input_timeout):
                await started.wait()
        except TimeoutError:
            return None
        # The detector cuts at max_utterance_s itself; the margin covers a stream that stops.
        try:
            async with asyncio.timeout(max_utterance_s + end_silence_ms / 1000 + 1.0):
                return await result
        except TimeoutError:
            return None
    finally:
        session.on_frame = previous
