"""Consumes asr.requests in batches, recognises them, answers each on the asking dialer's partition.

Offsets are committed after the answers are sent: a worker killed mid-batch leaves its requests
to be redelivered to another worker, and the dialer ignores the second answer if both arrive.
"""

from __future__ import annotations

import asyncio
import logging
import time

from obzvon.bus import Consumer, Envelope, Producer
from obzvon.topics import ASR_RESULTS
from obzvon.v1 import events_pb2

from obzvon_asr import metrics
from obzvon_asr.engine import AsrEngine, Utterance
from obzvon_asr.settings import AsrSettings

log = logging.getLogger(__name__)

EXPECT_NAMES = {
    events_pb2.UTTERANCE_EXPECT_YES_NO: "yes_no",
    events_pb2.UTTERANCE_EXPECT_DIGITS: "digits",
    events_pb2.UTTERANCE_EXPECT_CHOICE: "choice",
    events_pb2.UTTERANCE_EXPECT_FREE: "free",
}


class AsrService:
    def __init__(
        self,
        settings: AsrSettings,
        engine: AsrEngine,
        consumer: Consumer[events_pb2.AsrRequest],
        producer: Producer,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._consumer = consumer
        self._producer = producer

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await self._consumer.getmany(timeout_s=self._settings.batch_window_ms / 1000)
            for start in range(0, len(batch), self._settings.max_batch):
                chunk = batch[start : start + self._settings.max_batch]
                await self.answer(chunk)
                for env in _last_per_partition(chunk):
                    await self._consumer.commit(env)

    async def answer(self, batch: list[Envelope[events_pb2.AsrRequest]]) -> None:
        valid: list[Envelope[events_pb2.AsrRequest]] = []
        for env in batch:
            error = _check(env.value, self._engine.languages)
            if error:
                await self._reply(
                    env.value,
                    events_pb2.AsrResult(request_id=env.value.request_id, call_id=env.value.call_id, error=error),
                )
            else:
                valid.append(env)
        if not valid:
            return
        utterances = [
            Utterance(
                pcm16=env.value.audio,
                sample_rate=env.value.sample_rate or 8000,
                language=env.value.language,
                expect=EXPECT_NAMES.get(env.value.expect, "free"),
                choices=tuple(env.value.choices),
            )
            for env in valid
        ]
        taken_ns = time.time_ns()
        recognitions = await asyncio.to_thread(self._engine.recognize, utterances)
        now_ns = time.time_ns()
        for env, rec in zip(valid, recognitions, strict=True):
            sent_ns = env.value.sent_time.ToNanoseconds()
            metrics.RECOGNIZE.labels(language=env.value.language).observe(rec.ms / 1000)
            if sent_ns:  # the dialer's clock: never below 0 when the hosts' clocks disagree
                metrics.QUEUE.observe(max(taken_ns - sent_ns, 0) / 1e9)
            await self._reply(
                env.value,
                events_pb2.AsrResult(
                    request_id=env.value.request_id,
                    call_id=env.value.call_id,
                    text=rec.text,
                    confidence=rec.confidence,
                    language=rec.language,
                    intent=rec.intent,
                    recognize_ms=rec.ms,
                    total_ms=(now_ns - sent_ns) / 1e6 if sent_ns else 0.0,
                    decided_by=rec.decided_by,
                ),
            )
            # The transcript is the callee's words: at DEBUG only (a developer's machine), never at INFO.
            log.info(
                "recognised", extra={"attempt_id": env.value.attempt_id, "intent": rec.intent, "ms": round(rec.ms, 1)}
            )
            log.debug("transcript", extra={"attempt_id": env.value.attempt_id, "text": rec.text})

    async def _reply(self, request: events_pb2.AsrRequest, result: events_pb2.AsrResult) -> None:
        await self._producer.send(
            ASR_RESULTS, request.call_id, result, partition=request.reply_partition % ASR_RESULTS.partitions
        )


def _check(request: events_pb2.AsrRequest, languages: tuple[str, ...]) -> str:
    if not request.audio:
        return "empty audio"
    if len(request.audio) % 2:
        return "audio is not PCM16 (odd byte count)"
    if request.language not in languages:
        return f'no model for language "{request.language}" (have: {", ".join(languages)})'
    return ""


def _last_per_partition(
    batch: list[Envelope[events_pb2.AsrRequest]],
) -> list[Envelope[events_pb2.AsrRequest]]:
    last: dict[int, Envelope[events_pb2.AsrRequest]] = {}
    for env in batch:
        last[env.partition] = env
    return list(last.values())
