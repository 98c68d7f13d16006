"""`obzvon-tts serve`: the tts.requests consumer."""

from __future__ import annotations

import argparse
import asyncio

from obzvon.bus import Consumer, Producer, ensure_topics
from obzvon.runtime import run_service
from obzvon.topics import TTS_REQUESTS
from redis.asyncio import Redis

from obzvon_tts.service import TtsService
from obzvon_tts.settings import TtsSettings


async def serve(settings: TtsSettings, stop: asyncio.Event) -> None:
    await ensure_topics(settings)
    redis = Redis.from_url(settings.redis_url)
    async with (
        Producer(settings) as producer,
        Consumer(settings, TTS_REQUESTS, group_id=f"{settings.topic_prefix}tts") as consumer,
    ):
        service = TtsService(settings, redis, producer, consumer)
        try:
            await service.run(stop)
        finally:
            await service.aclose()
    await redis.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="obzvon-tts")
    parser.add_argument("command", choices=["serve"])
    parser.parse_args(argv)
    settings = TtsSettings()
    run_service(settings, lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
