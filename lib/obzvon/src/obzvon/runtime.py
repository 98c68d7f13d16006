"""Process plumbing every service entrypoint shares: uvloop, logging, tracing, metrics, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from obzvon.log import setup_logging
from obzvon.settings import CommonSettings
from obzvon.telemetry import setup_metrics, setup_tracing


def run_service(settings: CommonSettings, main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Runs ``main(stop)``; SIGTERM and SIGINT set ``stop`` so the service drains and exits cleanly."""
    setup_logging(settings.service_name, settings.log_level)
    setup_tracing(settings.service_name, settings.trace_console)
    setup_metrics(settings)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        beat = asyncio.create_task(_heartbeat(Path(settings.heartbeat_file), stop)) if settings.heartbeat_file else None
        try:
            await main(stop)
        finally:
            if beat is not None:
                beat.cancel()

    uvloop.run(_run())


async def _heartbeat(path: Path, stop: asyncio.Event, every_s: float = 5.0) -> None:
    while not stop.is_set():
        path.touch()  # noqa: ASYNC240 (on the loop on purpose: a wedged loop must stop the heartbeat)
        try:
            await asyncio.wait_for(stop.wait(), every_s)
        except TimeoutError:
            pass
