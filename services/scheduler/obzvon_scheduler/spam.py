"""Spam-risk monitor: a campaign that people hang up on or opt out of pauses itself and says why.

Over a sliding window of a campaign's latest answered calls, the share hung up by the callee within
a few seconds of answering and the share that opted out are compared with thresholds. The same is
done over the tenant's latest answered calls from all its campaigns (Scope.TENANT), so a list split
into many small campaigns, each under the minimum, is judged as one; past a threshold every running
campaign of the tenant pauses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from obzvon.outcomes import SpamSignal, spam_signal
from obzvon.v1.events_pb2 import CallOutcome

SHORT = "short"  # the callee hung up within short_hangup_s of answering
OPT_OUT = "opt_out"
OK = "ok"


@dataclass(frozen=True)
class SpamThresholds:
    window: int = 50
    # Too few answered calls say nothing yet.
    min_answered: int = 20
    short_hangup_s: float = 5.0
    max_short_share: float = 0.3
    max_opt_out_share: float = 0.1


def classify(outcome: CallOutcome.ValueType, talk_s: float, thresholds: SpamThresholds) -> str:
    """What an answered call that ended so, `talk_s` after the answer, adds to the window."""
    signal = spam_signal(outcome)
    if signal is SpamSignal.OPTED_OUT:
        return OPT_OUT
    if signal is SpamSignal.HUNG_UP and talk_s < thresholds.short_hangup_s:
        return SHORT
    return OK


class Scope(Enum):
    """Whose answered calls a window holds."""

    CAMPAIGN = "spam risk"
    TENANT = "spam risk across the tenant's campaigns"


def assess(latest: Sequence[str], thresholds: SpamThresholds, scope: Scope = Scope.CAMPAIGN) -> str | None:
    """Why the campaign (or every campaign of the tenant) must pause, or None. `latest`: classifications
    of the latest answered calls."""
    window = list(latest)[: thresholds.window]
    if len(window) < thresholds.min_answered:
        return None
    short = window.count(SHORT) / len(window)
    opted_out = window.count(OPT_OUT) / len(window)
    if short > thresholds.max_short_share:
        return (
            f"{scope.value}: {short:.0%} of the last {len(window)} answered calls were hung up within "
            f"{thresholds.short_hangup_s:g} s (limit {thresholds.max_short_share:.0%})"
        )
    if opted_out > thresholds.max_opt_out_share:
        return (
            f"{scope.value}: {opted_out:.0%} of the last {len(window)} answered calls opted out "
            f"(limit {thresholds.max_opt_out_share:.0%})"
        )
    return None
