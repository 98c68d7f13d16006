from __future__ import annotations

from obzvon.settings import CommonSettings


class AsrSettings(CommonSettings):
    service_name: str = "asr"
    # language=model pairs, e.g. "ru=base,en=tiny.en"; empty: the engine's defaults
    asr_models: str = ""
    # Requests that arrive within this window are recognised as one batch.
    batch_window_ms: int = 30
    max_batch: int = 8
