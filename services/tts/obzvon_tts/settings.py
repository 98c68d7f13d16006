from __future__ import annotations

from obzvon.settings import CommonSettings


class TtsSettings(CommonSettings):
    service_name: str = "tts"
    # Rendered audio lives this long in Redis; campaigns re-request what expired.
    audio_ttl_s: int = 7 * 24 * 3600
    max_text_chars: int = 2000
    # Longest audio stored for one prompt (PCM16 8 kHz: 16 kB per second).
    max_audio_bytes: int = 16000 * 120
    render_concurrency: int = 2
