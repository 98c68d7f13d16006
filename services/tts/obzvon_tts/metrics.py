"""tts's Prometheus metrics (served by obzvon.telemetry.setup_metrics; list: docs/metrics.md).

Counted in service.TtsService._render.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# An engine's time for one prompt (a free render slot already held).
RENDER = Histogram(
    "obzvon_tts_render_seconds",
    "render time per prompt",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 30),
)
# Each request: its audio already in Redis (hit) or rendered now (miss); hit rate = hit / all.
CACHE = Counter("obzvon_tts_cache_requests", "tts requests, by whether the audio was cached", ["result"])
for _result in ("hit", "miss"):
    CACHE.labels(result=_result)  # both series from the start: rate() sees the first increment
