"""One 20 ms clock per process that ticks every RTP session.

A task per call that sleeps 20 ms accumulates drift and costs a timer per call; one shared
deadline-driven clock roughly doubles the number of calls a core keeps on time (sip-notes.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

TickFn = Callable[[int], None]


class MediaClock:
    """Calls every registered tick function once per period, in registration order.

    Deadlines are absolute (start + n * period) so lateness in one tick does not shift later
    ones; when the loop stalls, missed ticks are replayed back to back up to `max_catch_up`
    and the rest are skipped (sending a burst of stale audio helps nobody).
    """

    def __init__(self, period_s: float = 0.02, *, max_catch_up: int = 5) -> None:
        self.period_s = period_s
        self.max_catch_up = max_catch_up
        self._subscribers: dict[int, TickFn] = {}
        self._next_id = 0
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.skipped = 0
        self.max_lateness_s = 0.0

    def register(self, fn: TickFn) -> int:
        handle = self._next_id
        self._next_id += 1
        self._subscribers[handle] = fn
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="media-clock")
        return handle

    def unregister(self, handle: int) -> None:
        self._subscribers.pop(handle, None)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def close(self) -> None:
        self._subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.period_s
        deadline = loop.time() + period
        while self._subscribers:
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            late = now - deadline
            self.max_lateness_s = max(self.max_lateness_s, late)
            behind = int(late // period)
            if behind > self.max_catch_up:
                skip = behind - self.max_catch_up
                self.skipped += skip
                deadline += skip * period
            self._tick()
            deadline += period

    def _tick(self) -> None:
        n = self.ticks
        self.ticks += 1
        for fn in list(self._subscribers.values()):
            try:
                fn(n)
            except Exception:
                # One broken call must not silence every other call on the clock.
                log.exception("media clock subscriber failed")
