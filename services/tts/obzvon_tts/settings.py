from __future__ import annotations

from obzvon.settings import CommonSettings
from pydantic import Field


class TtsSettings(CommonSettings):
    service_name: str = "tts"
    # Rendered audio lives this long in Redis; campaigns re-request what expired.
    audio_ttl_s: int = 7 * 24 * 3600
    max_text_chars: int = 2000
    # Longest audio stored for one prompt (PCM16 8 kHz: 16 kB per second).
    max_audio_bytes: int = 16000 * 120
    render_concurrency: int = 2
    # Resident festival processes per Festival voice in use, started on first use (one render at a time
    # each; about 1 s of CPU to start one). OBZVON_FESTIVAL_WORKERS.
    festival_workers: int = Field(default=2, ge=1)
    # A Festival render (or a worker's start) that takes longer fails and its process is replaced.
    festival_timeout_s: float = Field(default=60.0, gt=0)
