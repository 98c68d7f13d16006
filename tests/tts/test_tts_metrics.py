"""tts counts each request as a cache hit or miss and times each render (obzvon_tts.metrics), in-process
against the local Redis with the real espeak-ng engine."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from obzvon.audio import audio_key
from obzvon.v1 import events_pb2
from obzvon_tts.service import TtsService
from obzvon_tts.settings import TtsSettings
from prometheus_client import REGISTRY
from redis.asyncio import Redis

pytestmark = pytest.mark.stack

COUNTED = {
    "miss": ("obzvon_tts_cache_requests_total", {"result": "miss"}),
    "hit": ("obzvon_tts_cache_requests_total", {"result": "hit"}),
    "renders": ("obzvon_tts_render_seconds_count", {}),
}


class NoBus:
    """The tts.ready announcements are not under test here."""

    async def send(self, topic: object, key: str, value: object) -> None:
        pass


def values() -> dict[str, float]:
    return {what: REGISTRY.get_sample_value(name, labels) or 0.0 for what, (name, labels) in COUNTED.items()}


async def test_a_render_then_a_cache_hit_are_counted(test_redis: str) -> None:
    redis = Redis.from_url(test_redis)
    service = TtsService(TtsSettings(), redis, cast(Any, NoBus()), cast(Any, None))
    text = f"Проверка связи {uuid.uuid4().hex[:6]}"
    request = events_pb2.TtsRequest(
        audio_key=audio_key(text, "espeak-ng:ru", "ru"), text=text, voice="espeak-ng:ru", language="ru"
    )
    before = values()
    try:
        first, second = await service.handle(request), await service.handle(request)
    finally:
        await redis.aclose()
    assert not first.error and not second.error
    added = {what: value - before[what] for what, value in values().items()}
    assert added == {"miss": 1.0, "hit": 1.0, "renders": 1.0}
