"""Structured JSON logs carrying tenant, campaign and attempt ids from context variables."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("obzvon_log_context", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

# Log fields that would carry personal data. Above DEBUG a number is masked and what the callee said
# or pressed (or a contact's variables) is left out: call records hold those, scoped to the tenant.
_NUMBER_FIELDS = frozenset({"phone_number", "number", "to_number", "callee"})
_PRIVATE_FIELDS = frozenset({"transcript", "text", "digits", "variables", "utterance"})


def mask_number(number: str) -> str:
    """+79161234567 -> +7******4567: enough to tell calls apart in a log, not to ring anyone."""
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) < 8:
        return "*" * len(digits)
    return f"+{digits[0]}{'*' * (len(digits) - 5)}{digits[-4:]}"


@contextmanager
def log_context(**ids: str) -> Iterator[None]:
    """Adds ids (tenant_id, campaign_id, attempt_id, ...) to every log line written inside the block."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in ids.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            **(_context.get() or {}),
        }
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if record.levelno > logging.DEBUG:
            extras = {k: _guarded(k, v) for k, v in extras.items() if k not in _PRIVATE_FIELDS}
        line.update(extras)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _guarded(field: str, value: Any) -> Any:
    return mask_number(str(value)) if field in _NUMBER_FIELDS and value else value


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka and faust are chatty at INFO about every rebalance
    for noisy in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
