"""The dialer's prompts over a real SIP call, from Redis to the callee's ear.

A PCMU callee must hear tts's stored µ-law bytes exactly; a PCMA callee, or a PCMU one whose prompt
was cached before tts stored µ-law, hears the PCM16 form. The stored µ-law is deliberately another
tone than the PCM16, so what the callee hears shows which form was played.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from media_helpers import tone
from obzvon import keys
from obzvon.audio import audio_key, pcmu_key
from obzvon.bus import Producer
from obzvon.media import MediaClock, RtpSession, decode, encode
from obzvon.media.g711 import FRAME_BYTES, PT_PCMA, PT_PCMU, SILENCE_ENCODED
from obzvon.settings import CommonSettings
from obzvon.sip import IncomingCall, SipTrunk, SipUas
from obzvon.v1 import events_pb2, scripts_pb2
from obzvon_dialer.asr_client import AsrClient
from obzvon_dialer.channel import CallChannel
from obzvon_dialer.prompts import Prompts
from obzvon_dialer.settings import DialerSettings
from redis.asyncio import Redis

pytestmark = pytest.mark.stack

VOICE, LANGUAGE = "espeak-ng:ru", "ru"
PCM16 = tone(1.0, 440)
PCMU = encode(tone(1.0, 1000), PT_PCMU)


async def _nothing() -> None:
    pass


@pytest.mark.parametrize(
    ("payload_type", "store_pcmu", "heard_form"),
    [
        (PT_PCMU, True, "stored pcmu"),
        (PT_PCMA, True, "pcm16"),
        (PT_PCMU, False, "pcm16"),  # cached before tts stored µ-law
    ],
)
async def test_callee_hears_the_stored_form_for_its_codec(
    test_redis: str,
    bus_settings: CommonSettings,
    clock: MediaClock,
    payload_type: int,
    store_pcmu: bool,
    heard_form: str,
) -> None:
    redis = Redis.from_url(test_redis)
    text = f"prompt {uuid.uuid4().hex}"
    key = audio_key(text, VOICE, LANGUAGE)
    await redis.set(keys.tts_audio(key), PCM16, ex=60)
    if store_pcmu:
        await redis.set(pcmu_key(key), PCMU, ex=60)

    heard: list[bytes] = []

    async def callee(call: IncomingCall) -> None:
        call.ring()
        rtp = await RtpSession.open(clock)
        rtp.on_frame = heard.append
        assert call.remote_rtp is not None
        if await call.answer(rtp.local_port, payload_type):
            rtp.connect(call.remote_rtp, payload_type)
            await call.wait_bye(10)
        await rtp.close()

    uas = await SipUas.start(callee)
    trunk = await SipTrunk.start()
    rtp = await RtpSession.open(clock)
    # A short no-input wait: a prompt whose length were misread would be cut when listening gives up.
    settings = DialerSettings(topic_prefix=bus_settings.topic_prefix, no_input_timeout_s=0.3)
    try:
        async with Producer(settings) as producer:
            call = await trunk.invite(
                f"sip:callee@127.0.0.1:{uas.local_port}", from_user="bot", rtp_port=rtp.local_port, ring_timeout_s=3
            )
            assert call.payload_type == payload_type
            rtp.connect(call.remote_rtp, call.payload_type, call.dtmf_payload_type)
            channel = CallChannel(
                call=call,
                rtp=rtp,
                request=events_pb2.DialRequest(voice=VOICE, language=LANGUAGE),
                prompts=Prompts(redis, producer, 1.0),
                asr=AsrClient(settings, producer),
                settings=settings,
                on_opt_out=_nothing,
            )
            reply = await channel.ask(text, scripts_pb2.AskNode(expect=scripts_pb2.EXPECT_YES_NO))
            await asyncio.sleep(0.1)
            await call.hangup()
    finally:
        await rtp.close()
        await trunk.close()
        await uas.close()
        await redis.aclose()
    assert reply.intent == "no_input"
    silence = decode(SILENCE_ENCODED[payload_type], payload_type)  # A-law has no exact zero
    start = next(i for i, f in enumerate(heard) if f != silence)
    got = b"".join(heard[start:])[: len(PCM16)]
    expected = (
        decode(PCMU, PT_PCMU) if heard_form == "stored pcmu" else decode(encode(PCM16, payload_type), payload_type)
    )
    assert got == expected
    assert set(heard[start + len(PCM16) // FRAME_BYTES :]) == {silence}  # all of it, then silence
