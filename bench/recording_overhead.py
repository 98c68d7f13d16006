"""Call recording's cost (issue 12): CPU per call-minute of the tap and the WAV, and bytes per minute.

A minute of a call is replayed through the recorder as the RTP session feeds it (one frame each way
per 20 ms tick, the robot speaking half the time), then written as the stereo WAV; with
OBZVON_RECORDINGS_S3_ENDPOINT set (e.g. the local S3Proxy) the upload is timed too.
"""

from __future__ import annotations

import asyncio
import os
import time

from obzvon.media import g711
from obzvon.recordings import RecordingStoreSettings, open_store
from obzvon_dialer.recording import CallRecorder

MINUTE_TICKS = 3000
CALLS = 20


def one_minute() -> tuple[float, float, bytes]:
    frame = g711.encode(b"\x10\x27" * g711.FRAME_SAMPLES, g711.PT_PCMU)
    recorder = CallRecorder(max_seconds=600)
    started = time.process_time()
    for tick in range(MINUTE_TICKS):
        recorder.received(tick, frame, g711.PT_PCMU)
        if (tick // 150) % 2 == 0:  # the robot speaks 3 s, listens 3 s
            recorder.sent(tick, frame, g711.PT_PCMU)
    tapped = time.process_time()
    wav = recorder.wav()
    return tapped - started, time.process_time() - tapped, wav


async def main() -> None:
    taps, wavs = [], []
    wav = b""
    for _ in range(CALLS):
        tap_s, wav_s, wav = one_minute()
        taps.append(tap_s)
        wavs.append(wav_s)
    tap_ms = 1000 * sorted(taps)[CALLS // 2]
    wav_ms = 1000 * sorted(wavs)[CALLS // 2]
    print(f"tap: {tap_ms:.1f} ms CPU per call-minute ({1e6 * tap_ms / 1000 / (MINUTE_TICKS * 1.5):.2f} us a frame)")
    print(f"wav: {wav_ms:.1f} ms CPU per call-minute")
    print(f"bytes: {len(wav) / 1e6:.2f} MB per minute (stereo PCM16 8 kHz); held during the call: 0.96 MB/min (G.711)")
    if os.environ.get("OBZVON_RECORDINGS_S3_ENDPOINT"):
        store = await open_store(RecordingStoreSettings())
        started = time.perf_counter()
        for i in range(5):
            await store.put(f"bench/{i}.wav", wav)
        print(f"s3 put: {1000 * (time.perf_counter() - started) / 5:.0f} ms wall per call-minute")
        await store.delete([f"bench/{i}.wav" for i in range(5)])
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
