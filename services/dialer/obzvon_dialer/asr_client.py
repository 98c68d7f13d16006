"""Asks asr to recognise an utterance and waits for the answer on this dialer's own partition."""

from __future__ import annotations

import asyncio
import logging
import uuid

from google.protobuf.timestamp_pb2 import Timestamp
from obzvon.bus import Consumer, Producer
from obzvon.topics import ASR_REQUESTS, ASR_RESULTS
from obzvon.v1 import events_pb2

from obzvon_dialer.settings import DialerSettings

log = logging.getLogger(__name__)


class AsrClient:
    def __init__(self, settings: DialerSettings, producer: Producer) -> None:
        self._settings = settings
        self._producer = producer
        self._partition = settings.ordinal % ASR_RESULTS.partitions
        self._consumer = Consumer(
            settings, ASR_RESULTS, group_id=None, partitions=[self._partition], from_beginning=False
        )
        self._waiting: dict[str, asyncio.Future[events_pb2.AsrResult]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._receive())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()

    async def _receive(self) -> None:
        async for env in self._consumer:
            future = self._waiting.pop(env.value.request_id, None)
            # A result nobody waits for is a duplicate (a redelivered request answered twice) or late.
            if future is not None and not future.done():
                future.set_result(env.value)

    async def recognize(
        self,
        *,
        call_id: str,
        request: events_pb2.DialRequest,
        audio: bytes,
        expect: events_pb2.UtteranceExpect.ValueType,
        choices: list[str],
    ) -> events_pb2.AsrResult:
        request_id = uuid.uuid4().hex
        future: asyncio.Future[events_pb2.AsrResult] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        sent = Timestamp()
        sent.GetCurrentTime()
        try:
            await self._producer.send(
                ASR_REQUESTS,
                call_id,
                events_pb2.AsrRequest(
                    request_id=request_id,
                    call_id=call_id,
                    audio=audio,
                    sample_rate=8000,
                    language=request.language,
                    expect=expect,
                    choices=choices,
                    reply_topic=ASR_RESULTS.full_name(self._settings.topic_prefix),
                    reply_partition=self._partition,
                    tenant_id=request.tenant_id,
                    campaign_id=request.campaign_id,
                    attempt_id=request.attempt_id,
                    sent_time=sent,
                ),
            )
            return await asyncio.wait_for(future, self._settings.asr_timeout_s)
        finally:
            self._waiting.pop(request_id, None)
