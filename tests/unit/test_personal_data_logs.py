"""Personal data stays out of logs (issue #10, item 16): no phone number, transcript or key press is
written at INFO or above; numbers may appear masked."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from obzvon.log import JsonFormatter, mask_number
from obzvon.v1 import events_pb2
from obzvon_dialer.dialog import Reply
from obzvon_dialer.events import AttemptEvents

NUMBER = "+79161234567"
SAID = "да, приду завтра в десять"
PRESSED = "8358"


def test_mask_number() -> None:
    assert mask_number(NUMBER) == "+7******4567"
    assert mask_number("+12125551234") == "+1******1234"
    assert "1234" not in mask_number("1234")  # too short to show anything


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every log line as the services write it (obzvon.log.setup_logging's formatter), at DEBUG."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("test"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def info_lines(out: io.StringIO) -> list[str]:
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return [json.dumps(line, ensure_ascii=False) for line in lines if line["level"] != "debug"]


def test_formatter_masks_numbers_and_drops_what_the_callee_said(json_lines: io.StringIO) -> None:
    log = logging.getLogger("obzvon.test")
    fields = {"phone_number": NUMBER, "transcript": SAID, "digits": PRESSED, "variables": {"name": "Анна"}}
    log.info("careless line", extra=fields)
    log.warning("another", extra={"text": SAID, "number": NUMBER})
    log.debug("debugging", extra={"transcript": SAID})
    written = "\n".join(info_lines(json_lines))
    for secret in (NUMBER, NUMBER.lstrip("+"), SAID, PRESSED, "Анна"):
        assert secret not in written
    assert "+7******4567" in written
    assert SAID in json_lines.getvalue()  # DEBUG may carry it, for a developer's own machine


class Producer:
    async def send(self, topic: object, key: str, value: object) -> None:
        pass


def test_call_events_are_logged_without_replies_or_numbers(json_lines: io.StringIO) -> None:
    request = events_pb2.DialRequest(
        attempt_id="att-1", tenant_id="t", campaign_id="c", contact_id="k", phone_number=NUMBER
    )
    events = AttemptEvents(Producer(), request)  # type: ignore[arg-type]

    async def call() -> None:
        await events.emit(events_pb2.CALL_EVENT_TYPE_ANSWERED, sip_code=200)
        await events.reply("confirm", Reply(text=SAID, intent="yes", confidence=0.9))
        await events.reply("code", Reply(text="", intent="other", confidence=1.0, digits=PRESSED))

    asyncio.run(call())
    lines = info_lines(json_lines)
    assert len(lines) == 4  # answered, reply, dtmf, reply: each still logged
    written = "\n".join(lines)
    for secret in (NUMBER, NUMBER.lstrip("+"), SAID, PRESSED):
        assert secret not in written
