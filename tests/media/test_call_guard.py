"""The dialer listens for an opt-out at every moment of a call, and every call ends (issue #10 items 3 and 15).

Real SIP and RTP on loopback through `place`, a phone the test drives, the prompts' audio in Redis.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from dialer_call import LOOPBACK, AsrStandIn, attempt, call, dialer, phone, tone
from media_helpers import free_udp_port
from obzvon.media import MediaClock
from obzvon.media.g711 import rms
from obzvon.script import load_script_yaml
from obzvon.v1 import events_pb2

pytestmark = pytest.mark.stack

QUESTION = load_script_yaml("""
start: greet
nodes:
  greet: {say: "Здравствуйте!", next: confirm}
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: bye, no: bye, no_input: bye}}
  bye: {hangup: "До свидания"}
""")
NO_QUESTION = load_script_yaml("""
start: notice
nodes:
  notice: {say: "Ваш заказ готов, забрать его можно до пятницы.", next: bye}
  bye: {hangup: "До свидания"}
""")
YEAR = load_script_yaml("""
start: year
nodes:
  year: {ask: "Введите год рождения.", expect: digits, digits_length: 4, on: {match: bye, no_input: bye}}
  bye: {hangup: "До свидания"}
""")
DISCLOSURE = "автоматический"


def voiced_s(frames: list[bytes]) -> float:
    return sum(1 for f in frames if rms(f) > 1000) * 0.02


async def test_key_nine_during_the_disclosure_opts_out(test_redis: str, clock: MediaClock) -> None:
    async with phone(clock) as p, dialer(test_redis, clock, AsrStandIn()) as d:
        request = await attempt(d, p.port, QUESTION, {DISCLOSURE: 4.0, "Вы больше": 0.6})
        events, placing = await call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        await asyncio.sleep(0.6)  # the disclosure is telling the callee to press 9
        callee.rtp.send_dtmf("9")
        assert await callee.call.wait_bye(4.0)
        took = asyncio.get_running_loop().time() - callee.at
        await asyncio.wait_for(placing, 5)
    assert events.outcome == "opted out" and events.opted_out
    assert await d.dnc.check(request.phone_number, request.tenant_id) is not None
    assert events.nodes == []  # the script never started
    assert took < 0.6 + 0.6 + 1.5  # the 4 s disclosure was cut short for the 0.6 s confirmation
    assert d.asr.heard == []


async def test_key_nine_during_a_say_node_of_a_script_without_questions(test_redis: str, clock: MediaClock) -> None:
    async with phone(clock) as p, dialer(test_redis, clock, AsrStandIn()) as d:
        request = await attempt(d, p.port, NO_QUESTION, {DISCLOSURE: 0.4, "Ваш заказ": 4.0}, default_s=0.4)
        events, placing = await call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        await asyncio.sleep(1.2)
        callee.rtp.send_dtmf("9")
        await asyncio.wait_for(placing, 6)
    assert events.outcome == "opted out" and events.nodes == ["notice"]
    assert await d.dnc.check(request.phone_number, request.tenant_id) is not None


async def test_opt_out_phrase_during_a_say_node_is_recognised(test_redis: str, clock: MediaClock) -> None:
    asr = AsrStandIn(intent="opt_out")  # what asr answers to «не звоните мне больше»
    async with phone(clock) as p, dialer(test_redis, clock, asr) as d:
        request = await attempt(d, p.port, NO_QUESTION, {DISCLOSURE: 0.4, "Ваш заказ": 4.0}, default_s=0.4)
        events, placing = await call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        await asyncio.sleep(1.0)
        await callee.rtp.play(tone(0.8, 300))
        await asyncio.wait_for(placing, 6)
    assert events.outcome == "opted out"
    assert asr.heard and all(expect == events_pb2.UTTERANCE_EXPECT_FREE for _, expect in asr.heard)


async def test_ordinary_speech_does_not_stop_a_say_node(test_redis: str, clock: MediaClock) -> None:
    asr = AsrStandIn(intent="other")  # «алло», «да-да»
    async with phone(clock) as p, dialer(test_redis, clock, asr) as d:
        request = await attempt(d, p.port, NO_QUESTION, {DISCLOSURE: 0.4, "Ваш заказ": 2.0}, default_s=0.4)
        events, placing = await call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        await asyncio.sleep(0.8)
        await callee.rtp.play(tone(0.5, 300))
        await asyncio.wait_for(placing, 6)
    assert events.outcome == "completed" and not events.opted_out
    assert len(asr.heard) == 1  # heard, checked for an opt-out, and let be
    assert voiced_s(callee.heard) >= 0.4 + 2.0 + 0.4 - 0.2  # every prompt played in full


async def test_key_nine_in_the_silence_after_a_question(test_redis: str, clock: MediaClock) -> None:
    async with phone(clock) as p, dialer(test_redis, clock, AsrStandIn(), no_input_timeout_s=3.0) as d:
        request = await attempt(d, p.port, QUESTION, {}, default_s=0.4)
        events, placing = await call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        await asyncio.sleep(0.4 * 3 + 0.8)  # disclosure, greeting, question; then a pause
        callee.rtp.send_dtmf("9")
        await asyncio.wait_for(placing, 6)
    assert events.outcome == "opted out" and events.nodes == ["greet", "confirm"]


async def test_inside_a_digits_answer_nine_is_a_digit(test_redis: str, clock: MediaClock) -> None:
    async with phone(clock) as p, dialer(test_redis, clock, AsrStandIn()) as d:
        request = await attempt(d, p.port, YEAR, {}, default_s=0.4)
        events, placing = await call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        await asyncio.sleep(0.4 * 2 + 0.2)
        callee.rtp.send_dtmf("1990")
        await asyncio.wait_for(placing, 6)
    assert events.outcome == "completed" and not events.opted_out
    assert [r.digits for r in events.replies] == ["1990"]


async def test_speech_outside_questions_goes_to_asr_a_bounded_number_of_times(
    test_redis: str, clock: MediaClock
) -> None:
    # An answering machine's long greeting over the robot's prompt must not flood asr.
    asr = AsrStandIn(intent="other")
    async with (
        phone(clock) as p,
        dialer(test_redis, clock, asr, opt_out_recognitions_per_call=2, end_of_speech_ms=200) as d,
    ):
        request = await attempt(d, p.port, NO_QUESTION, {"Ваш заказ": 4.0}, default_s=0.4)
        events, placing = await call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        for _ in range(5):
            await callee.rtp.play(tone(0.3, 300) + b"\x00\x00" * 3200)  # 0.3 s of speech, 0.4 s of silence
        await asyncio.wait_for(placing, 6)
    assert events.outcome == "completed"
    assert len(asr.heard) == 2


async def test_a_line_that_goes_silent_is_hung_up(test_redis: str, clock: MediaClock) -> None:
    async with phone(clock, sends_media=False) as p, dialer(test_redis, clock, AsrStandIn(), rtp_inactivity_s=0.8) as d:
        request = await attempt(d, p.port, NO_QUESTION, {"Ваш заказ": 30.0})
        events, placing = await call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        assert await callee.call.wait_bye(3.0)  # the robot hangs up (BYE), not waiting out its 30 s prompt
        took = asyncio.get_running_loop().time() - callee.at
        await asyncio.wait_for(placing, 5)
    assert events.outcome == "rtp inactivity"
    assert 0.7 <= took < 2.0


async def test_no_call_outlasts_the_maximum_length(test_redis: str, clock: MediaClock) -> None:
    async with phone(clock) as p, dialer(test_redis, clock, AsrStandIn(), max_call_s=1.5) as d:
        request = await attempt(d, p.port, NO_QUESTION, {"Ваш заказ": 30.0})
        events, placing = await call(d, request)
        callee = await asyncio.wait_for(p.answered.get(), 5)
        assert await callee.call.wait_bye(4.0)
        took = asyncio.get_running_loop().time() - callee.at
        await asyncio.wait_for(placing, 5)
    assert events.outcome == "max call length"
    assert 1.4 <= took < 2.5


async def test_sipp_callee_pressing_nine_during_the_disclosure_is_opted_out(test_redis: str, clock: MediaClock) -> None:
    # The issue's own case: SIPp answers and, 0.7 s in, plays an RFC 4733 '9' from its media port.
    sipp = shutil.which("sipp")
    assert sipp, "sipp not found: apt-get install sip-tester"
    sip_port, media_port = free_udp_port(), free_udp_port(4)
    scenario = Path(__file__).parent / "sipp" / "uas_press9_during_disclosure.xml"
    argv = [sipp, "-sf", str(scenario), "-i", LOOPBACK, "-p", str(sip_port), "-mi", LOOPBACK]
    argv += ["-mp", str(media_port), "-m", "1", "-nostdin"]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        await asyncio.sleep(0.3)
        async with dialer(test_redis, clock, AsrStandIn()) as d:
            request = await attempt(d, sip_port, QUESTION, {DISCLOSURE: 5.0, "Вы больше": 0.6})
            events, placing = await call(d, request)
            await asyncio.wait_for(placing, 10)
        rc = await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    out = (await proc.stdout.read()).decode(errors="replace") if proc.stdout else ""
    assert events.outcome == "opted out", out[-1500:]
    assert events.nodes == []  # the 5 s disclosure never reached the script
    assert await d.dnc.check(request.phone_number, request.tenant_id) is not None
    assert rc == 0, out[-1500:]  # SIPp got the robot's BYE after the confirmation
