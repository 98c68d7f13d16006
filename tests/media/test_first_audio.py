"""The dialer reports how long an answered callee waited for the robot's first audio (issue #10, item 6),
so the scheduler can measure abandoned calls: answered calls with no robot audio within 2 s."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from dialer_call import AsrStandIn, dialer, phone
from dialer_call import attempt as stored_attempt
from obzvon import keys
from obzvon.audio import audio_key
from obzvon.media import MediaClock
from obzvon.script import disclosure_text, load_script_yaml
from obzvon.v1 import events_pb2
from obzvon_dialer.call import place

pytestmark = pytest.mark.stack
T = events_pb2.CallEventType
SCRIPT = load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n')


class Completed:
    """Keeps the COMPLETED event's fields (AttemptEvents' interface)."""

    def __init__(self) -> None:
        self.fields: dict[str, object] = {}

    async def emit(self, type_: int, **fields: object) -> None:
        if type_ == T.CALL_EVENT_TYPE_COMPLETED:
            self.fields = fields

    async def node_entered(self, node_id: str, tag: str) -> None:
        pass

    async def reply(self, node_id: str, reply: object) -> None:
        pass


async def test_answered_call_reports_the_delay_to_the_first_audio(test_redis: str, clock: MediaClock) -> None:
    async with phone(clock) as p, dialer(test_redis, clock, AsrStandIn()) as d:
        request = await stored_attempt(d, p.port, SCRIPT, {}, default_s=0.3)
        events = Completed()
        await asyncio.wait_for(place(d.ctx, request, cast(Any, events)), 20)
    delay = events.fields.get("robot_audio_after_answer")
    assert delay is not None, events.fields
    assert 0 <= cast(Any, delay).ToNanoseconds() < 300_000_000  # answer -> first audio within 300 ms


async def test_a_call_whose_disclosure_is_missing_still_hears_the_robot_at_once(
    test_redis: str, clock: MediaClock
) -> None:
    async with phone(clock) as p, dialer(test_redis, clock, AsrStandIn(), prompt_ready_before_dial_s=0.0) as d:
        request = await stored_attempt(d, p.port, SCRIPT, {}, default_s=0.3)
        # The disclosure's audio is gone (expired from the cache): the platform's opening, rendered when
        # the dialer started, is played at once instead, and the call ends politely (tests/media/test_late_prompts.py).
        disclosure = disclosure_text(request.language, request.tenant_display_name, callback_number="")
        await d.redis.delete(keys.tts_audio(audio_key(disclosure, request.voice, request.language)))
        events = Completed()
        await asyncio.wait_for(place(d.ctx, request, cast(Any, events)), 20)
    assert events.fields.get("reason") == "prompt not ready"
    delay = events.fields.get("robot_audio_after_answer")
    assert delay is not None, events.fields
    assert 0 <= cast(Any, delay).ToNanoseconds() < 300_000_000
