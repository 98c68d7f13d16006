"""The one table of Kafka topics: name, key, value type and partition count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message

from obzvon.v1 import events_pb2

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Topic(Generic[M]):
    name: str
    value_type: type[M]
    key: str  # what the record key is, for readers of this table
    partitions: int

    def full_name(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}"


DIAL_REQUESTS = Topic("dial.requests", events_pb2.DialRequest, key="attempt id", partitions=8)
CALL_EVENTS = Topic("call.events", events_pb2.CallEvent, key="attempt id", partitions=8)
ASR_REQUESTS = Topic("asr.requests", events_pb2.AsrRequest, key="call id", partitions=8)
# One partition per dialer instance: a dialer reads only the partition of its ordinal, so a result
# reaches the very process that holds the call without a broadcast.
ASR_RESULTS = Topic("asr.results", events_pb2.AsrResult, key="call id", partitions=16)
TTS_REQUESTS = Topic("tts.requests", events_pb2.TtsRequest, key="audio key", partitions=4)
TTS_READY = Topic("tts.ready", events_pb2.TtsReady, key="audio key", partitions=4)

ALL_TOPICS: tuple[
    Topic[events_pb2.DialRequest]
    | Topic[events_pb2.CallEvent]
    | Topic[events_pb2.AsrRequest]
    | Topic[events_pb2.AsrResult]
    | Topic[events_pb2.TtsRequest]
    | Topic[events_pb2.TtsReady],
    ...,
] = (
    DIAL_REQUESTS,
    CALL_EVENTS,
    ASR_REQUESTS,
    ASR_RESULTS,
    TTS_REQUESTS,
    TTS_READY,
)
