"""Call events of one attempt, in order, on call.events (keyed by attempt id)."""

from __future__ import annotations

import logging
import uuid

from google.protobuf.timestamp_pb2 import Timestamp
from obzvon.bus import Producer
from obzvon.topics import CALL_EVENTS
from obzvon.v1 import events_pb2

from obzvon_dialer import metrics
from obzvon_dialer.dialog import Reply

log = logging.getLogger(__name__)
T = events_pb2.CallEventType


class AttemptEvents:
    def __init__(self, producer: Producer, request: events_pb2.DialRequest) -> None:
        self._producer = producer
        self._request = request
        self._sequence = 0

    async def emit(self, type_: events_pb2.CallEventType.ValueType, **fields: object) -> None:
        self._sequence += 1
        now = Timestamp()
        now.GetCurrentTime()
        event = events_pb2.CallEvent(
            event_id=uuid.uuid4().hex,
            attempt_id=self._request.attempt_id,
            tenant_id=self._request.tenant_id,
            campaign_id=self._request.campaign_id,
            contact_id=self._request.contact_id,
            type=type_,
            time=now,
            phone_number=self._request.phone_number,
            sequence=self._sequence,
            **fields,  # type: ignore[arg-type]
        )
        await self._producer.send(CALL_EVENTS, self._request.attempt_id, event)
        if event.HasField("outcome"):  # a final event: how the attempt ended
            metrics.OUTCOMES.labels(metrics.outcome_label(event.outcome.outcome)).inc()
        # What the callee said or pressed goes to call.events (the tenant's call record), not the log.
        logged = {k: v for k, v in fields.items() if v and k != "transcript"}
        log.info("call event", extra={"type": T.Name(type_), **logged})

    async def node_entered(self, node_id: str, tag: str) -> None:
        await self.emit(T.CALL_EVENT_TYPE_NODE_ENTERED, node=node_id, tag=tag)

    async def reply(self, node_id: str, reply: Reply) -> None:
        if reply.digits:
            await self.emit(T.CALL_EVENT_TYPE_DTMF, node=node_id, transcript=reply.digits, intent=reply.intent)
        await self.emit(
            T.CALL_EVENT_TYPE_REPLY,
            node=node_id,
            transcript=reply.text or reply.digits,
            intent=reply.intent,
            confidence=reply.confidence,
        )
