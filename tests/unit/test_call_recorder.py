"""The call recorder's alignment (pure logic): both channels on the media clock, gaps filled with silence."""

from __future__ import annotations

import io
import wave

import numpy as np
from obzvon.media import g711
from obzvon_dialer.recording import CallRecorder

LOUD = g711.encode(b"\x10\x27" * g711.FRAME_SAMPLES, g711.PT_PCMU)  # a constant 10000, one 20 ms frame


def channels(recorder: CallRecorder) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(io.BytesIO(recorder.wav())) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return frames[0::2], frames[1::2]


def test_frames_land_at_their_tick_and_silence_fills_the_gaps() -> None:
    recorder = CallRecorder(max_seconds=60)
    recorder.sent(100, LOUD, g711.PT_PCMU)  # the robot speaks at the first tick
    recorder.received(103, LOUD, g711.PT_PCMU)  # the callee 60 ms later (nothing sent in between)
    recorder.received(104, g711.encode(b"\x10\x27" * 160, g711.PT_PCMA), g711.PT_PCMA)  # another law
    recorder.sent(110, LOUD, g711.PT_PCMU)
    callee, robot = channels(recorder)
    assert len(callee) == len(robot) == 11 * 160
    loud = lambda pcm: [i for i in range(11) if abs(int(pcm[i * 160 + 80])) > 5000]  # noqa: E731
    assert loud(robot) == [0, 10]
    assert loud(callee) == [3, 4]


def test_recording_stops_at_its_longest() -> None:
    recorder = CallRecorder(max_seconds=1)
    for tick in range(100):
        recorder.received(tick, LOUD, g711.PT_PCMU)
    assert recorder.seconds == 1.0
