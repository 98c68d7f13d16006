"""Reasons on call events that the scheduler acts on, besides the SIP outcomes (busy, no answer...)."""

from __future__ import annotations

from enum import StrEnum


class NotDialed(StrEnum):
    """Why the dialer gave a dial request back without sending INVITE, counting nothing."""

    # The campaign was paused (or ended) while the request waited in dial.requests: the contact goes
    # back to the queue, and the attempt does not count toward the contact's attempts.
    CAMPAIGN_NOT_RUNNING = "campaign paused"
