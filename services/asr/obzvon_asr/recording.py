"""Phone recordings as the engine takes them: PCM16 mono at the file's own rate.

Telephony writes WAV in PCM16, μ-law (format 7) or A-law (format 6), at 8 kHz or other rates, mono
or stereo (often callee and robot on their own channels). PyAV (FFmpeg, already under
faster-whisper) decodes all of these; the standard `wave` module reads only PCM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

# Which channel of a stereo recording to hear: the first, the second, or both mixed.
CHANNELS = ("left", "right", "mix")


class RecordingError(Exception):
    """A recording that cannot be used; the message is one line naming the problem."""


@dataclass(frozen=True)
class Recording:
    pcm16: bytes  # little-endian, mono
    sample_rate: int
    channels_in_file: int


def read_recording(path: str | Path, channel: str = "mix") -> Recording:
    """Decodes an audio file to PCM16 mono; RecordingError for anything unreadable or empty."""
    if channel not in CHANNELS:
        raise RecordingError(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    name = str(path)
    try:
        container = av.open(name)
    except FileNotFoundError:
        raise RecordingError(f"{name}: no such file") from None
    except (av.FFmpegError, OSError, ValueError) as e:
        raise RecordingError(f"{name}: not an audio file this reader knows ({_first_line(e)})") from None
    with container:
        if not container.streams.audio:
            raise RecordingError(f"{name}: has no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.rate or 0)
        channels = int(stream.channels or 0)
        if rate <= 0 or channels <= 0:
            raise RecordingError(f"{name}: audio stream has no sample rate or channel count")
        # Planar float: one row per channel, whatever the file's own encoding was.
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
        rows: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    rows.append(out.to_ndarray())
            for out in resampler.resample(None):
                rows.append(out.to_ndarray())
        except (av.FFmpegError, ValueError) as e:
            raise RecordingError(f"{name}: audio does not decode ({_first_line(e)})") from None
    if not rows:
        raise RecordingError(f"{name}: holds no audio")
    planes = np.concatenate(rows, axis=1)
    if channels == 1 or channel == "mix":
        mono = planes.mean(axis=0)
    else:
        mono = planes[0 if channel == "left" else 1]
    pcm = (np.clip(mono, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return Recording(pcm16=pcm, sample_rate=rate, channels_in_file=channels)


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]
