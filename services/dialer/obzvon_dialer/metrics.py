"""The dialer's Prometheus metrics (served by obzvon.telemetry.setup_metrics; list: docs/metrics.md).

Each is counted by one line where the thing happens; grep the name to find it. Labels stay bounded:
a trunk host passed the allowlist (OBZVON_ALLOWED_TRUNK_HOSTS), an outcome is one of a closed set;
never a phone number, and no tenant or campaign id (unbounded in a SaaS; reporting counts per campaign).
"""

from __future__ import annotations

from obzvon.v1 import events_pb2
from prometheus_client import Counter, Gauge, Histogram

# service.DialerService: calls held by this process, and the slots left before it pauses dial.requests.
# KEDA scales the dialers on the sum of ACTIVE_CALLS (deploy/k8s/overlays/keda).
ACTIVE_CALLS = Gauge("obzvon_dialer_active_calls", "calls in progress in this dialer")
FREE_CALL_SLOTS = Gauge(
    "obzvon_dialer_free_call_slots", "calls this dialer can still take (OBZVON_MAX_CALLS minus active)"
)

# call._call: INVITE sent, by trunk host; rate() is calls per second per trunk.
CALLS = Counter("obzvon_dialer_calls", "INVITEs sent, by trunk host", ["trunk"])
# call._call: INVITE to 200 OK (ringing included: a person reaching the phone).
CALL_SETUP = Histogram(
    "obzvon_dialer_call_setup_seconds",
    "INVITE to answer",
    buckets=(0.5, 1, 2, 3, 5, 8, 12, 16, 20, 25, 30, 45, 60),
)
# events.AttemptEvents.emit, on each final event: how the attempt ended (outcome_label of its CallOutcome).
OUTCOMES = Counter("obzvon_dialer_outcomes", "attempts ended in the dialer, by outcome", ["outcome"])
# call._audio_delay: what a callee hears after picking up, before the robot speaks (silence).
FIRST_AUDIO = Histogram(
    "obzvon_dialer_first_audio_seconds",
    "answer to the robot's first audio",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5),
)
# channel.CallChannel: the callee stops speaking -> the robot's next audio starts (VAD end, asr, prompt).
TURN_LATENCY = Histogram(
    "obzvon_dialer_turn_latency_seconds",
    "end of the callee's utterance to the robot's next audio",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 5, 8),
)
# call.place: dialed although a prompt before the first question was not rendered (tts is behind).
PROMPTS_LATE = Counter(
    "obzvon_dialer_prompts_late", "calls dialed before the prompts up to the first question were in the tts cache"
)

# call.place: a recorded call whose WAV could not be stored (the store down or refusing).
RECORDINGS_LOST = Counter("obzvon_dialer_recordings_lost", "recorded calls whose recording could not be stored")


def outcome_label(outcome: events_pb2.CallOutcome.ValueType) -> str:
    """The CallOutcome's name as a label value: CALL_OUTCOME_NO_ANSWER -> "no_answer" (a closed set)."""
    return events_pb2.CallOutcome.Name(outcome).removeprefix("CALL_OUTCOME_").lower()
