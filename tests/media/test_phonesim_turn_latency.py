"""The phone simulator times the robot's turn: from the end of the callee's reply to the robot's next speech.

A robot made here waits a known time after the reply before it speaks again; the simulator's ground
truth must report that wait (robot_audio_after_reply_ms), which the benchmark reports as turn latency.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from media_helpers import tone
from obzvon.media import MediaClock, RtpSession
from obzvon.media.g711 import rms
from obzvon.sip import SipTrunk
from obzvon_phonesim import PhoneSimulator

ROBOT_WAIT_S = 0.6


async def robot_answers_late(trunk: SipTrunk, clock: MediaClock, port: int, number: str, keyed: bool) -> None:
    """Speaks 1 s, takes the callee's reply (speech or key), waits ROBOT_WAIT_S after it ended, speaks again."""
    rtp = await RtpSession.open(clock)
    last_voiced = [0.0]
    voiced = asyncio.Event()

    def hear(frame: bytes) -> None:
        if rms(frame) > 300:
            last_voiced[0] = time.monotonic()
            voiced.set()

    rtp.on_frame = hear
    try:
        call = await trunk.invite(
            f"sip:{number}@127.0.0.1:{port}", from_user="bot", rtp_port=rtp.local_port, ring_timeout_s=3
        )
        rtp.connect(call.remote_rtp, call.payload_type, call.dtmf_payload_type)
        await rtp.play(tone(1.0))
        if keyed:
            await asyncio.wait_for(rtp.dtmf.get(), 5)
            reply_end = time.monotonic() + 0.1  # the key's tone lasts 100 ms
        else:
            voiced.clear()  # the phone is silent while the robot speaks
            await asyncio.wait_for(voiced.wait(), 5)  # the reply begins
            while True:  # ... and is over after 300 ms without speech
                voiced.clear()
                try:
                    await asyncio.wait_for(voiced.wait(), 0.3)
                except TimeoutError:
                    break
            reply_end = last_voiced[0]
        await asyncio.sleep(max(0.0, reply_end + ROBOT_WAIT_S - time.monotonic()))
        await rtp.play(tone(0.5))
        await call.hangup()
    finally:
        await rtp.close()


async def test_turn_latency_after_a_spoken_and_a_keyed_reply(tmp_path: Path, clock: MediaClock) -> None:
    truth = tmp_path / "truth.jsonl"
    rules = {"3001": "yes", "3002": "press2", "3003": "silence"}
    async with PhoneSimulator(ground_truth=truth, rules=rules, ring_s=0.1, end_silence_ms=500) as sim:
        trunk = await SipTrunk.start()
        try:
            await robot_answers_late(trunk, clock, sim.port, "3001", keyed=False)
            await robot_answers_late(trunk, clock, sim.port, "3002", keyed=True)
            # A callee who never replies has no turn to time.
            call = await trunk.invite(
                f"sip:3003@127.0.0.1:{sim.port}", from_user="bot", rtp_port=40002, ring_timeout_s=3
            )
            await asyncio.sleep(0.3)
            await call.hangup()
        finally:
            await trunk.close()
        await asyncio.sleep(0.2)
    ends = {r["to_number"]: r for r in map(json.loads, truth.read_text().splitlines()) if r["event"] == "call_end"}
    assert ends["3001"]["replied"] is True and ends["3002"]["replied"] is True
    for number in ("3001", "3002"):
        # The robot's wait, give or take a frame or two of packet timing.
        assert 500 <= ends[number]["robot_audio_after_reply_ms"] <= 750, ends[number]
    assert ends["3003"]["robot_audio_after_reply_ms"] is None
