"""One real call through the dialer's `place` is counted where it happens (obzvon_dialer.metrics).

A loopback phone answers, hears the disclosure and the question, answers it by voice; asr is a stand-in
that hears "yes"; the robot says goodbye and hangs up. The call's INVITE (by trunk host), its setup
time, the answer-to-first-audio delay, the turn from the callee's answer to the robot's next audio and
the outcome each add one to the metrics this process exports.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from dialer_call import LOOPBACK, AsrStandIn, attempt, dialer, phone, tone
from obzvon.media import MediaClock
from obzvon.script import load_script_yaml
from obzvon_dialer.call import place
from obzvon_dialer.events import AttemptEvents
from prometheus_client import REGISTRY

pytestmark = pytest.mark.stack

SCRIPT = load_script_yaml("""
start: confirm
nodes:
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: bye, no: bye}}
  bye: {hangup: "До свидания"}
""")

COUNTED = {
    "calls": ("obzvon_dialer_calls_total", {"trunk": LOOPBACK}),
    "setup": ("obzvon_dialer_call_setup_seconds_count", {}),
    "first audio": ("obzvon_dialer_first_audio_seconds_count", {}),
    "turn": ("obzvon_dialer_turn_latency_seconds_count", {}),
    "completed": ("obzvon_dialer_outcomes_total", {"outcome": "completed"}),
}


class NoBus:
    """AttemptEvents' producer: the events themselves are not under test here."""

    async def send(self, topic: object, key: str, value: object) -> None:
        pass


def values() -> dict[str, float]:
    return {what: REGISTRY.get_sample_value(name, labels) or 0.0 for what, (name, labels) in COUNTED.items()}


async def test_a_call_is_counted_where_it_happens(test_redis: str, clock: MediaClock) -> None:
    before = values()
    async with phone(clock) as p, dialer(test_redis, clock, AsrStandIn(intent="yes")) as d:
        request = await attempt(d, p.port, SCRIPT, {}, default_s=0.4)
        placing = asyncio.create_task(place(d.ctx, request, AttemptEvents(cast(Any, NoBus()), request)))
        callee = await asyncio.wait_for(p.answered.get(), 5)
        await asyncio.sleep(0.4 * 2 + 0.3)  # the disclosure and the question
        await callee.rtp.play(tone(0.5, 300) + b"\x00\x00" * 4000)  # «да», then silence: the turn ends
        await asyncio.wait_for(placing, 10)
    added = {what: value - before[what] for what, value in values().items()}
    assert added == dict.fromkeys(COUNTED, 1.0)
