"""`obzvon-asr serve` (the asr.requests worker) and `obzvon-asr classify FILE.wav` (one file, same engine)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from obzvon.bus import Consumer, Producer, ensure_topics
from obzvon.runtime import run_service
from obzvon.topics import ASR_REQUESTS

from obzvon_asr.settings import AsrSettings

log = logging.getLogger("obzvon_asr")


async def serve(settings: AsrSettings, stop: asyncio.Event) -> None:
    from obzvon_asr.engine import AsrEngine, models_from_env
    from obzvon_asr.service import AsrService

    await ensure_topics(settings)
    # Model loading takes seconds of CPU: done before joining the group so no request waits on it.
    engine = await asyncio.to_thread(AsrEngine, models_from_env(settings.asr_models or None))
    async with (
        Producer(settings) as producer,
        Consumer(settings, ASR_REQUESTS, group_id=f"{settings.topic_prefix}asr") as consumer,
    ):
        log.info("asr serving", extra={"languages": list(engine.languages)})
        await AsrService(settings, engine, consumer, producer).run(stop)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "classify":
        from obzvon_asr.classify import main as classify

        raise SystemExit(classify(args[1:]))
    parser = argparse.ArgumentParser(prog="obzvon-asr", description="serve | classify FILE.wav --lang --expect")
    parser.add_argument("command", choices=["serve", "classify"])
    parser.parse_args(args[:1])
    settings = AsrSettings()
    run_service(settings, lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
