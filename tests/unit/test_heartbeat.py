"""The liveness heartbeat is touched while the service's loop runs and stops when it stops."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from obzvon.runtime import _heartbeat


async def test_heartbeat_touches_until_stopped(tmp_path: Path) -> None:
    beat = tmp_path / "heartbeat"
    stop = asyncio.Event()
    task = asyncio.create_task(_heartbeat(beat, stop, every_s=0.05))
    await asyncio.sleep(0.12)
    first = beat.stat().st_mtime_ns
    await asyncio.sleep(0.12)
    assert beat.stat().st_mtime_ns > first
    stop.set()
    await asyncio.wait_for(task, 1)
    os.utime(beat, (time.time() - 100, time.time() - 100))
    await asyncio.sleep(0.12)
    assert time.time() - beat.stat().st_mtime > 50  # no longer touched
