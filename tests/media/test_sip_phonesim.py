"""The dialer's SIP client against the phone simulator, in-process and as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from media_helpers import tone
from obzvon.media import MediaClock, RtpSession
from obzvon.media.g711 import rms
from obzvon.sip import CallFailed, SipTrunk
from obzvon_phonesim import PhoneSimulator

RULES = {
    "1001": "yes",
    "1002": "busy",
    "1003": "no_answer",
    "1004": "optout",
    "1005": "hangup_early",
    "1006": "press1",
}


def sim(tmp_path: Path) -> PhoneSimulator:
    return PhoneSimulator(
        ground_truth=tmp_path / "truth.jsonl", rules=RULES, ring_s=0.2, early_hangup_s=0.5, max_ring_s=10
    )


def truth(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]


async def talk(trunk: SipTrunk, clock: MediaClock, port: int, number: str) -> tuple[list[bytes], bool]:
    """Call, say a 1 s prompt, listen 2.5 s, hang up; the frames heard and whether they hung up."""
    rtp = await RtpSession.open(clock)
    heard: list[bytes] = []
    rtp.on_frame = heard.append
    progress: list[int] = []
    try:
        call = await trunk.invite(
            f"sip:{number}@127.0.0.1:{port}",
            from_user="74951234567",
            rtp_port=rtp.local_port,
            ring_timeout_s=3,
            on_progress=progress.append,
        )
        assert progress == [180]
        assert call.payload_type in (0, 8) and call.dtmf_payload_type == 101
        rtp.connect(call.remote_rtp, call.payload_type, call.dtmf_payload_type)
        await rtp.play(tone(1.0))
        hung_up = await _wait(call.remote_hangup, 2.5)
        await call.hangup()
        return heard, hung_up
    finally:
        await rtp.close()


async def _wait(ev: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(ev.wait(), seconds)
        return True
    except TimeoutError:
        return False


async def test_answered_call_hears_the_reply_then_bye(tmp_path: Path, clock: MediaClock) -> None:
    async with sim(tmp_path) as s:
        trunk = await SipTrunk.start()
        try:
            heard, hung_up = await talk(trunk, clock, s.port, "1001")
        finally:
            await trunk.close()
        await asyncio.sleep(0.2)
    assert not hung_up
    voiced = [f for f in heard if rms(f) > 300]
    expected_ms = len(s.reply_audio("yes")) // 16
    # «да» was played back after the prompt ended; most of its frames are voiced
    assert len(voiced) * 20 >= 0.3 * expected_ms and len(voiced) > 5
    first_voiced = next(i for i, f in enumerate(heard) if rms(f) > 300)
    assert first_voiced * 20 >= 1000 + 600  # not before the prompt + ~700 ms of silence
    inv, end = truth(tmp_path)
    assert inv["event"] == "invite" and inv["to_number"] == "1001" and inv["behaviour"] == "yes"
    assert inv["from"] == "74951234567"
    assert end["event"] == "call_end" and end["answered"] is True and end["reply_text"] == "да"
    assert end["ended_by"] == "robot" and end["replied"] is True
    assert 900 <= int(str(end["heard_robot_ms"])) <= 1100


async def test_busy_fails_with_486_and_is_acked(tmp_path: Path) -> None:
    async with sim(tmp_path) as s:
        trunk = await SipTrunk.start()
        trunk.endpoint.sent_log = []
        try:
            with pytest.raises(CallFailed) as ei:
                await trunk.invite(f"sip:1002@127.0.0.1:{s.port}", from_user="bot", rtp_port=40000, ring_timeout_s=3)
        finally:
            await trunk.close()
    assert ei.value.sip_code == 486
    assert [line.split()[0] for line, _ in trunk.endpoint.sent_log] == ["INVITE", "ACK"]
    assert truth(tmp_path)[-1]["behaviour"] == "busy"


async def test_no_answer_is_cancelled_after_ring_timeout(tmp_path: Path) -> None:
    async with sim(tmp_path) as s:
        trunk = await SipTrunk.start()
        trunk.endpoint.sent_log = []
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            with pytest.raises(CallFailed) as ei:
                await trunk.invite(f"sip:1003@127.0.0.1:{s.port}", from_user="bot", rtp_port=40000, ring_timeout_s=1.0)
        finally:
            await trunk.close()
        took = loop.time() - t0
        await asyncio.sleep(0.1)
    assert ei.value.sip_code == 487 and ei.value.reason == "no answer"
    assert 1.0 <= took < 2.0
    assert [line.split()[0] for line, _ in trunk.endpoint.sent_log] == ["INVITE", "CANCEL", "ACK"]
    end = truth(tmp_path)[-1]
    assert end["event"] == "call_end" and end["ended_by"] == "cancel" and end["answered"] is False


async def test_phone_hangs_up_early(tmp_path: Path, clock: MediaClock) -> None:
    async with sim(tmp_path) as s:
        trunk = await SipTrunk.start()
        try:
            _, hung_up = await talk(trunk, clock, s.port, "1005")
        finally:
            await trunk.close()
    assert hung_up
    assert truth(tmp_path)[-1]["ended_by"] == "phone"


async def test_keypad_answer_arrives_as_rfc4733(tmp_path: Path, clock: MediaClock) -> None:
    async with sim(tmp_path) as s:
        trunk = await SipTrunk.start()
        rtp = await RtpSession.open(clock)
        try:
            call = await trunk.invite(
                f"sip:1006@127.0.0.1:{s.port}", from_user="bot", rtp_port=rtp.local_port, ring_timeout_s=3
            )
            rtp.connect(call.remote_rtp, call.payload_type, call.dtmf_payload_type)
            await rtp.play(tone(0.5))
            digit = await asyncio.wait_for(rtp.dtmf.get(), 3)
            await asyncio.sleep(0.3)
            await call.hangup()
        finally:
            await rtp.close()
            await trunk.close()
    assert digit == "1" and rtp.dtmf.empty()
    assert truth(tmp_path)[-1]["dtmf"] == "1"


async def test_simulator_as_subprocess(tmp_path: Path, clock: MediaClock) -> None:
    gt = tmp_path / "truth.jsonl"
    exe = shutil.which("obzvon-phonesim", path=str(Path(sys.executable).parent))
    assert exe, "obzvon-phonesim is not installed in this environment (pip install -e tools/phonesim)"
    proc = await asyncio.create_subprocess_exec(
        exe, "serve", "--sip-port", "0", "--ground-truth", str(gt), "--seed", "7",
        "--mix", "yes=1", "--rule", "2002=optout", "--ring-s", "0.2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert "listening on 127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1])
        trunk = await SipTrunk.start()
        try:
            heard, _ = await talk(trunk, clock, port, "2002")
        finally:
            await trunk.close()
        await asyncio.sleep(0.3)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
    assert proc.returncode == 0
    assert len([f for f in heard if rms(f) > 300]) > 20  # «не звоните мне больше» is > 0.4 s
    records = [json.loads(x) for x in gt.read_text().splitlines()]
    assert [r["event"] for r in records] == ["invite", "call_end"]
    assert records[1]["behaviour"] == "optout" and records[1]["reply_text"] == "не звоните мне больше"
