"""Exec probe for the Kafka workers (dialer, tts, asr), which serve no port of their own.

Mounted from a ConfigMap at /opt/obzvon-probe/probe.py and run by the image's Python:

  probe.py ready   exit 0 when Kafka (every OBZVON_KAFKA_BOOTSTRAP address) and Redis
                   (OBZVON_REDIS_URL) accept a TCP connection within 2 s; a worker that can
                   reach neither can do no work, so it is not ready.
  probe.py alive   exit 0 while PID 1 (the service) is neither a zombie nor stopped and, when
                   OBZVON_HEARTBEAT_FILE is set, that file was touched within
                   OBZVON_HEARTBEAT_MAX_AGE_S seconds (default 60). obzvon.runtime touches it
                   from the event loop every 5 s (set for dialer, tts and asr in base).

Standard library only: the probe must not depend on the service's code or its imports.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from urllib.parse import urlsplit


def _tcp(host: str, port: int, timeout_s: float = 2.0) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc}"


def _split(address: str, default_port: int) -> tuple[str, int]:
    parsed = urlsplit(address if "://" in address else f"tcp://{address}")
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


def ready() -> int:
    errors = []
    for address in os.environ.get("OBZVON_KAFKA_BOOTSTRAP", "127.0.0.1:9092").split(","):
        if address.strip():
            errors.append(_tcp(*_split(address.strip(), 9092)))
    errors.append(_tcp(*_split(os.environ.get("OBZVON_REDIS_URL", "redis://127.0.0.1:6379/0"), 6379)))
    failed = [e for e in errors if e]
    for e in failed:
        print(f"unreachable: {e}", file=sys.stderr)
    return 1 if failed else 0


def alive() -> int:
    try:
        with open("/proc/1/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError as exc:
        print(f"cannot read /proc/1/stat: {exc}", file=sys.stderr)
        return 1
    if state in ("Z", "T", "X"):
        print(f"PID 1 state {state}", file=sys.stderr)
        return 1
    heartbeat = os.environ.get("OBZVON_HEARTBEAT_FILE")
    if heartbeat:
        max_age = float(os.environ.get("OBZVON_HEARTBEAT_MAX_AGE_S", "60"))
        try:
            age = time.time() - os.stat(heartbeat).st_mtime
        except OSError as exc:
            print(f"no heartbeat: {exc}", file=sys.stderr)
            return 1
        if age > max_age:
            print(f"heartbeat {age:.0f} s old (max {max_age:.0f})", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in ("ready", "alive"):
        sys.exit("usage: probe.py ready|alive")
    sys.exit(ready() if command == "ready" else alive())
