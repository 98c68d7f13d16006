"""Process plumbing every service entrypoint shares: uvloop, logging, tracing, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import uvloop

from obzvon.log import setup_logging
from obzvon.settings import CommonSettings
from obzvon.telemetry import setup_tracing


def run_service(settings: CommonSettings, main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Runs ``main(stop)``; SIGTERM and SIGINT set ``stop`` so the service drains and exits cleanly."""
    setup_logging(settings.service_name, settings.log_level)
    setup_tracing(settings.service_name, settings.trace_console)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    uvloop.run(_run())
