from __future__ import annotations

import asyncio

from media_helpers import LOOPBACK, silence, tone
from obzvon.media import MediaClock, RtpSession, listen_for_utterance
from obzvon.media.g711 import FRAME_BYTES
from obzvon.media.vad import UtteranceDetector, VadEventKind


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


def run(det: UtteranceDetector, pcm: bytes) -> list[tuple[int, VadEventKind, int]]:
    out = []
    for i, f in enumerate(frames(pcm)):
        ev = det.feed(f)
        if ev is not None:
            out.append((i, ev.kind, len(ev.audio)))
    return out


def test_one_utterance_with_a_short_pause_inside() -> None:
    det = UtteranceDetector(end_silence_ms=700, min_speech_ms=200, pre_roll_ms=200)
    pcm = silence(0.5) + tone(0.4) + silence(0.3) + tone(0.4) + silence(1.0)
    events = run(det, pcm)
    assert [k for _, k, _ in events] == [VadEventKind.SPEECH_START, VadEventKind.UTTERANCE_END]
    start_frame, end_frame = events[0][0], events[1][0]
    assert start_frame == 25 + 2  # 3 voiced frames (60 ms) after 0.5 s of silence
    assert end_frame == 25 + 20 + 15 + 20 + 35 - 1  # 700 ms after the last voiced frame
    audio_frames = events[1][2] // FRAME_BYTES
    # pre-roll (10) + speech and pause (20+15+20) + trailing silence (35)
    assert audio_frames == 10 + 55 + 35


def test_blip_shorter_than_min_speech_is_discarded() -> None:
    det = UtteranceDetector(end_silence_ms=300, min_speech_ms=200)
    events = run(det, silence(0.2) + tone(0.1) + silence(0.5))
    assert [k for _, k, _ in events] == [VadEventKind.SPEECH_START, VadEventKind.DISCARDED]


def test_clicks_do_not_start_speech() -> None:
    det = UtteranceDetector()
    click = tone(0.04) + silence(0.2)
    assert run(det, click * 5) == []


def test_max_utterance_cuts_long_speech() -> None:
    det = UtteranceDetector(max_utterance_s=1.0)
    events = run(det, tone(3.0))
    assert events[1][1] is VadEventKind.UTTERANCE_END
    assert events[1][2] == 8000 * 2  # exactly 1 s


async def test_listen_for_utterance_over_rtp_with_barge_in(clock: MediaClock) -> None:
    robot = await RtpSession.open(clock)
    caller = await RtpSession.open(clock)
    robot.connect((LOOPBACK, caller.local_port), 0)
    caller.connect((LOOPBACK, robot.local_port), 0)
    prompt = asyncio.ensure_future(robot.play(silence(5.0)))

    async def speak() -> None:
        await asyncio.sleep(0.3)
        await caller.play(tone(0.6))

    speaker = asyncio.ensure_future(speak())
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    audio = await listen_for_utterance(
        robot, no_input_timeout=3.0, end_silence_ms=400, on_speech_start=robot.stop_playback
    )
    took = loop.time() - t0
    await speaker
    assert await prompt is False  # barge-in stopped the prompt
    assert audio is not None
    assert 0.7 * 16000 <= len(audio) <= 1.4 * 16000  # pre-roll + 0.6 s + 0.4 s silence
    assert 1.1 <= took <= 2.5, took
    none = await listen_for_utterance(robot, no_input_timeout=0.3)
    assert none is None
    await robot.close()
    await caller.close()
