"""Call recording (issue 12): a recorded call is stored in a real S3 server (S3Proxy, deploy/local/stack.sh)
as a stereo WAV, the callee on the left and the robot on the right; a call not recorded stores nothing."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from typing import Any, cast

import numpy as np
import pytest
from dialer_call import AsrStandIn, dialer, phone, tone
from dialer_call import attempt as stored_attempt
from obzvon import keys
from obzvon.audio import audio_key
from obzvon.media import MediaClock
from obzvon.recordings import RecordingStore, RecordingStoreSettings, contact_prefix, open_store
from obzvon.script import disclosure_text, load_script_yaml
from obzvon.v1 import events_pb2
from obzvon_dialer.call import place

pytestmark = pytest.mark.stack
T = events_pb2.CallEventType
SCRIPT = load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n')
CALLEE_HZ, DISCLOSURE_HZ, PROMPT_HZ = 2500.0, 600.0, 440.0


class Emitted:
    def __init__(self) -> None:
        self.events: list[tuple[int, dict[str, object]]] = []

    async def emit(self, type_: int, **fields: object) -> None:
        self.events.append((type_, fields))

    async def node_entered(self, node_id: str, tag: str) -> None:
        pass

    async def reply(self, node_id: str, reply: object) -> None:
        pass

    def of(self, type_: int) -> list[dict[str, object]]:
        return [f for t, f in self.events if t == type_]


@pytest.fixture
async def s3_store(s3_recordings: RecordingStoreSettings) -> AsyncIterator[RecordingStore]:
    store = await open_store(s3_recordings)
    yield store
    await store.close()


def energy_at(pcm: np.ndarray, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)
    band = (freqs > hz - 30) & (freqs < hz + 30)
    return float(spectrum[band].sum())


async def recorded_call(test_redis: str, clock: MediaClock, store: RecordingStore, *, record: bool) -> Emitted:
    """A call whose callee says a 2500 Hz tone at once; the disclosure (600 Hz when it says the call is
    recorded) and the hangup prompt (440 Hz) are the robot's."""
    async with phone(clock) as p, dialer(test_redis, clock, AsrStandIn()) as d:
        d.ctx.recordings = store
        request = await stored_attempt(d, p.port, SCRIPT, {}, default_s=1.0)
        request.record = record
        # Only the disclosure the campaign's flag asks for has audio: the other would be a missing prompt.
        plain = disclosure_text(request.language, request.tenant_display_name, callback_number="")
        told = disclosure_text(request.language, request.tenant_display_name, callback_number="", recorded=True)
        await d.redis.delete(keys.tts_audio(audio_key(plain, request.voice, request.language)))
        said = told if record else plain
        await d.redis.set(keys.tts_audio(audio_key(said, request.voice, request.language)), tone(1.0, DISCLOSURE_HZ))
        events = Emitted()
        placing = asyncio.create_task(place(d.ctx, request, cast(Any, events)))
        answered = await asyncio.wait_for(p.answered.get(), 10)
        await answered.rtp.play(tone(1.0, CALLEE_HZ))
        await asyncio.wait_for(placing, 20)
    assert [f["reason"] for f in events.of(T.CALL_EVENT_TYPE_COMPLETED)] == ["completed"], events.events
    return events


async def test_recorded_call_is_a_stereo_wav_in_s3(
    test_redis: str, clock: MediaClock, s3_store: RecordingStore
) -> None:
    events = await recorded_call(test_redis, clock, s3_store, record=True)
    (recorded,) = events.of(T.CALL_EVENT_TYPE_RECORDED)
    key = str(recorded["recording_key"])
    assert key.startswith("tenants/t1/campaigns/c1/contacts/k1/att-")
    with wave.open(io.BytesIO(await s3_store.get(key))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    callee, robot = frames[0::2], frames[1::2]
    assert 2.0 < len(robot) / 8000 < 6.0  # the disclosure and the goodbye, 1 s each, and the callee's tone
    # Each channel holds its own side: the callee's tone left, the robot's disclosure and prompt right.
    assert energy_at(callee, CALLEE_HZ) > 20 * energy_at(callee, PROMPT_HZ)
    assert energy_at(robot, PROMPT_HZ) > 20 * energy_at(robot, CALLEE_HZ)
    assert energy_at(robot, DISCLOSURE_HZ) > 20 * energy_at(robot, CALLEE_HZ)  # the disclosure that says so
    # Aligned on the media clock: the callee spoke right after answering (its 1 s tone whole, not
    # squeezed), and the goodbye came after the 1 s disclosure.
    speaking = np.flatnonzero(np.abs(callee) > 1000)
    assert speaking[0] < 0.8 * 8000
    assert 0.9 * 8000 < speaking[-1] - speaking[0] < 1.1 * 8000
    assert energy_at(robot[:8000], PROMPT_HZ) < 0.2 * energy_at(robot, PROMPT_HZ)


async def test_call_not_recorded_stores_nothing(test_redis: str, clock: MediaClock, s3_store: RecordingStore) -> None:
    events = await recorded_call(test_redis, clock, s3_store, record=False)
    assert events.of(T.CALL_EVENT_TYPE_RECORDED) == []
    assert [r async for r in s3_store.objects(contact_prefix("t1", "c1", "k1"))] == []
