"""asr's Prometheus metrics (served by obzvon.telemetry.setup_metrics; list: docs/metrics.md).

Counted in service.AsrService.answer. The language label is one asr has a model for (OBZVON_ASR_MODELS:
other requests are answered with an error first), so it stays a closed set.
"""

from __future__ import annotations

from prometheus_client import Histogram

# Whisper's time for one utterance (its share of the batch it was recognised in).
RECOGNIZE = Histogram(
    "obzvon_asr_recognize_seconds",
    "recognition time per utterance",
    ["language"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
)
# From the dialer sending the request (AsrRequest.sent_time) to asr starting on it: time in asr.requests
# and the batch window. It grows when asr workers are too few; KEDA scales them on asr.requests lag.
QUEUE = Histogram(
    "obzvon_asr_queue_seconds",
    "time from the dialer's request to asr taking it up",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10),
)
