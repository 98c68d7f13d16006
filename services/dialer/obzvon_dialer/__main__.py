"""`obzvon-dialer serve`: SIP trunk, media clock, asr client and the dial.requests consumer."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket

from obzvon.bus import Consumer, Producer, ensure_topics
from obzvon.compliance import RedisAuditLog, RedisCounterStore, RedisDncRegistry
from obzvon.media.clock import MediaClock
from obzvon.recordings import open_store
from obzvon.runtime import run_service
from obzvon.sip.trunk import TrunkCredentials
from obzvon.sip.uac import SipTrunk
from obzvon.topics import DIAL_REQUESTS
from redis.asyncio import Redis

from obzvon_dialer.asr_client import AsrClient
from obzvon_dialer.call import DialerContext
from obzvon_dialer.claims import Claims
from obzvon_dialer.prompts import Prompts
from obzvon_dialer.service import DialerService, RunningCampaigns
from obzvon_dialer.settings import DialerSettings

log = logging.getLogger("obzvon_dialer")


async def serve(settings: DialerSettings, stop: asyncio.Event) -> None:
    await ensure_topics(settings)
    redis = Redis.from_url(settings.redis_url)
    clock = MediaClock()
    trunk = await SipTrunk.start(settings.sip_host, settings.sip_port)
    async with Producer(settings) as producer:
        asr = AsrClient(settings, producer)
        await asr.start()
        prompts = Prompts(redis, producer, settings.tts_wait_s)
        # The platform's own sentences (the opening, the polite ending, the opt-out confirmation) are
        # rendered now and held in memory; until they are, `place` dials nothing (tts may start later).
        platform_prompts = asyncio.create_task(prompts.keep_loading_platform(), name="platform-prompts")
        ctx = DialerContext(
            settings=settings,
            trunk=trunk,
            clock=clock,
            prompts=prompts,
            asr=asr,
            dnc=RedisDncRegistry(redis),
            counters=RedisCounterStore(redis),
            audit=RedisAuditLog(redis),
            trunk_credentials=TrunkCredentials(redis),
            recordings=await open_store(settings),
        )
        claims = Claims(redis, f"{socket.gethostname()}/{settings.ordinal}", settings.claim_ttl_s)
        consumer = Consumer(settings, DIAL_REQUESTS, group_id=f"{settings.topic_prefix}dialer")
        await consumer.start()
        log.info(
            "dialer serving", extra={"sip": f"{trunk.local_addr[0]}:{trunk.local_addr[1]}", "ordinal": settings.ordinal}
        )
        try:
            await DialerService(ctx, consumer, producer, claims, RunningCampaigns(redis)).run(stop)
        finally:
            platform_prompts.cancel()
            await consumer.stop()
            await asr.stop()
            await trunk.close()
            await clock.close()
            if ctx.recordings is not None:
                await ctx.recordings.close()
    await redis.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="obzvon-dialer")
    parser.add_argument("command", choices=["serve"])
    parser.parse_args(argv)
    settings = DialerSettings()
    run_service(settings, lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
