"""A call record links its recording (issue 12): the dialer's RECORDED event names the key."""

from __future__ import annotations

from obzvon.v1 import events_pb2, scripts_pb2
from obzvon_reporting.records import fold

T = events_pb2.CallEventType


def test_call_record_links_its_recording() -> None:
    key = "tenants/t1/campaigns/c1/contacts/k1/a1.wav"
    events = [
        events_pb2.CallEvent(attempt_id="a1", type=T.CALL_EVENT_TYPE_ANSWERED, sequence=1),
        events_pb2.CallEvent(attempt_id="a1", type=T.CALL_EVENT_TYPE_COMPLETED, sequence=2),
        events_pb2.CallEvent(attempt_id="a1", type=T.CALL_EVENT_TYPE_RECORDED, sequence=3, recording_key=key),
    ]
    assert fold("a1", events, scripts_pb2.Script()).recording_key == key
    assert fold("a1", events[:2], scripts_pb2.Script()).recording_key == ""
