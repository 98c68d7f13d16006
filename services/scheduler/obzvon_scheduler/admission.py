"""The scheduler's admission check: every dial request passes the compliance rules before it is sent.

This is where the law and the callee's wishes are enforced for scheduling; the dialer checks again
just before INVITE (obzvon_dialer.call), with the same facts (obzvon.admission).
"""

from __future__ import annotations

from dataclasses import dataclass

from obzvon.admission import admission_request, now_utc
from obzvon.compliance import RedisAuditLog, RedisCounterStore, RedisDncRegistry, admit
from obzvon.v1 import events_pb2
from redis.asyncio import Redis


@dataclass(frozen=True)
class AdmissionDecision:
    allowed: bool
    status: str = ""
    # The compliance rule's value (obzvon.compliance.Rule) when held back.
    rule: str = ""
    # When the contact may be tried again (epoch seconds); None when the hold-back is final.
    retry_at: float | None = None


class Admission:
    def __init__(self, redis: Redis) -> None:
        self.counters = RedisCounterStore(redis)
        self.dnc = RedisDncRegistry(redis)
        self.audit = RedisAuditLog(redis)

    async def decide(self, dial: events_pb2.DialRequest) -> AdmissionDecision:
        decision = await admit(
            admission_request(dial), store=self.counters, dnc=self.dnc, audit=self.audit, now=now_utc()
        )
        if decision.allowed:
            return AdmissionDecision(allowed=True)
        retry = decision.retry_at.timestamp() if decision.retry_at else None
        rule = decision.rule.value if decision.rule else ""
        return AdmissionDecision(allowed=False, status=decision.status, rule=rule, retry_at=retry)
