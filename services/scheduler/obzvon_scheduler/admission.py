"""The scheduler's admission check: one call per contact per tick decides whether it may be called now."""

from __future__ import annotations

from dataclasses import dataclass

from obzvon.v1 import campaigns_pb2


@dataclass(frozen=True)
class AdmissionDecision:
    allowed: bool
    status: str = ""
    # When the contact may be tried again (epoch seconds); None when the hold-back is final.
    retry_at: float | None = None


class Admission:
    async def decide(self, tenant_id: str, campaign: campaigns_pb2.Campaign, contact: campaigns_pb2.Contact,
                     now: float) -> AdmissionDecision:
        return AdmissionDecision(allowed=True)
