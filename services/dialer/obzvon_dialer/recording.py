"""Call recording: both directions of an answered call, as a stereo WAV (callee left, robot right).

The RTP session hands the recorder each G.711 payload it receives and each one it sends (a `MediaTap`),
stamped with the media clock's tick; the recorder only appends bytes, filling the ticks nobody spoke in
with silence, so both channels stay aligned on the clock. The WAV (8 kHz PCM16) is built once, when the
call ends, and stored under the attempt's key (obzvon.recordings).
"""

from __future__ import annotations

import asyncio
import io
import logging
import wave

from obzvon.media import g711
from obzvon.media._audioop import audioop
from obzvon.recordings import RecordingKey, RecordingStore
from obzvon.v1 import events_pb2

log = logging.getLogger(__name__)

CALLEE, ROBOT = 0, 1
# Held as G.711 (8 kB/s a channel, half of PCM16) until the call ends; one law for both channels.
_LAW = g711.PT_PCMU
_SILENCE = g711.SILENCE_ENCODED[_LAW][:1]
_BYTES_PER_TICK = g711.FRAME_SAMPLES


class CallRecorder:
    """A `MediaTap` that keeps the call's audio, both ways, from the first tick with audio."""

    def __init__(self, max_seconds: float) -> None:
        self._start: int | None = None  # the first tick with audio: ringing is not recorded
        self._max_bytes = int(max_seconds * g711.SAMPLE_RATE)
        self._channels = (bytearray(), bytearray())

    def received(self, tick: int, payload: bytes, payload_type: int) -> None:
        self._append(CALLEE, tick, payload, payload_type)

    def sent(self, tick: int, payload: bytes, payload_type: int) -> None:
        self._append(ROBOT, tick, payload, payload_type)

    def _append(self, channel: int, tick: int, payload: bytes, payload_type: int) -> None:
        if self._start is None:
            self._start = tick
        buf = self._channels[channel]
        at = (tick - self._start) * _BYTES_PER_TICK
        if at > len(buf):
            # Nothing came or went since: silence suppression, the robot listening, a lost packet.
            buf.extend(_SILENCE * (min(at, self._max_bytes) - len(buf)))
        if len(buf) + len(payload) > self._max_bytes:
            return  # past the longest call: the recording ends there
        if payload_type != _LAW:
            payload = g711.encode(g711.decode(payload, payload_type), _LAW)
        buf += payload

    @property
    def seconds(self) -> float:
        return max(len(c) for c in self._channels) / g711.SAMPLE_RATE

    def wav(self) -> bytes:
        """The stereo WAV: 8 kHz, 16-bit, callee on the left channel, robot on the right."""
        length = max(len(c) for c in self._channels)
        left, right = (g711.decode(bytes(c.ljust(length, _SILENCE)), _LAW) for c in self._channels)
        stereo = audioop.add(audioop.tostereo(left, 2, 1, 0), audioop.tostereo(right, 2, 0, 1), 2)
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(g711.SAMPLE_RATE)
            w.writeframes(stereo)
        return out.getvalue()


def recording_key(request: events_pb2.DialRequest) -> RecordingKey:
    return RecordingKey(request.tenant_id, request.campaign_id, request.contact_id, request.attempt_id)


async def store_recording(store: RecordingStore, request: events_pb2.DialRequest, recorder: CallRecorder) -> str:
    """Writes the call's WAV; its key."""
    key = recording_key(request).key
    await store.put(key, await asyncio.to_thread(recorder.wav))
    log.info("call recorded", extra={"seconds": round(recorder.seconds, 1)})
    return key
