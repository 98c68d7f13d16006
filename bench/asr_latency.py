"""Latency of 1 s replies, request to result, and recognitions per CPU second. One JSON line.

Default: a mix of ten 1 s replies (ru and en; clear answers the free transcript settles, answers
that must be scored against the expected phrasings, non-answers), each sent --n times one at a
time, through AsrEngine.recognize(). `--kafka` sends them the way the dialer does: an AsrRequest
on asr.requests, an AsrService worker in this process answering on its reply partition of
asr.results, the time taken from send to the answer's arrival (needs the local stack:
deploy/local/stack.sh start; topics get a fresh prefix). `--text` measures one reply instead.

Usage: .venv/bin/python bench/asr_latency.py [--kafka] [--n 10] [--lang ru --text "Не знаю."]
[--models ru=base,en=base] [--threads 0] [--always-score]
utterances_per_s_per_core = replies per second of this process's CPU time, so it stays comparable
on a machine that other jobs share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "asr"))

import asr_voices  # noqa: E402
from obzvon_asr.engine import AsrEngine, EngineOptions, Utterance, models_from_env  # noqa: E402

CACHE = ROOT / ".local" / "asr-set" / "audio"
MIX: tuple[tuple[str, str], ...] = (
    ("ru", "Да, конечно."),
    ("ru", "Да."),
    ("ru", "Нет, спасибо."),
    ("ru", "Не надо."),
    ("ru", "Не знаю."),
    ("en", "Yes, sure."),
    ("en", "Yeah."),
    ("en", "No thanks."),
    ("en", "Not now."),
    ("en", "I don't know."),
)


def one_second(language: str, text: str) -> bytes:
    voice = asr_voices.available_voices(language)[0]
    pcm = asr_voices.cached_telephone(CACHE, voice, text)
    samples = 8000
    # Exactly 1 s: the reply centred in silence (or trimmed), as the dialer's VAD cuts it.
    raw = pcm[: samples * 2]
    pad = samples * 2 - len(raw)
    return b"\0" * (pad // 2 // 2 * 2) + raw + b"\0" * (pad - pad // 2 // 2 * 2)


def through_engine(engine: AsrEngine, replies: list[tuple[str, str, bytes]], n: int) -> dict[str, list[float]]:
    lat: dict[str, list[float]] = {}
    for _ in range(n):
        for lang, text, pcm in replies:
            t = time.perf_counter()
            engine.recognize([Utterance(pcm, 8000, lang, "yes_no")])
            lat.setdefault(text, []).append((time.perf_counter() - t) * 1000)
    return lat


async def through_kafka(engine: AsrEngine, replies: list[tuple[str, str, bytes]], n: int) -> dict[str, list[float]]:
    from google.protobuf.timestamp_pb2 import Timestamp
    from obzvon.bus import Consumer, Producer, ensure_topics
    from obzvon.settings import CommonSettings
    from obzvon.topics import ASR_REQUESTS, ASR_RESULTS
    from obzvon.v1 import events_pb2
    from obzvon_asr.service import AsrService
    from obzvon_asr.settings import AsrSettings

    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    settings = AsrSettings(topic_prefix=prefix)
    client = CommonSettings(topic_prefix=prefix)
    await ensure_topics(settings, [ASR_REQUESTS, ASR_RESULTS])
    stop = asyncio.Event()
    lat: dict[str, list[float]] = {}
    async with (
        Producer(settings) as worker_out,
        Consumer(settings, ASR_REQUESTS, group_id=f"{prefix}asr") as worker_in,
        Producer(client) as dialer_out,
        Consumer(client, ASR_RESULTS, group_id=None, partitions=[0], from_beginning=False) as dialer_in,
    ):
        await worker_in.wait_assigned()
        worker = asyncio.create_task(AsrService(settings, engine, worker_in, worker_out).run(stop))
        answers = aiter(dialer_in)
        for round_ in range(n + 1):  # round 0 warms the path (connections, first fetch)
            for lang, text, pcm in replies:
                request_id = uuid.uuid4().hex
                sent = Timestamp()
                sent.GetCurrentTime()
                t = time.perf_counter()
                await dialer_out.send(
                    ASR_REQUESTS,
                    request_id,
                    events_pb2.AsrRequest(
                        request_id=request_id,
                        call_id=request_id,
                        audio=pcm,
                        sample_rate=8000,
                        language=lang,
                        expect=events_pb2.UTTERANCE_EXPECT_YES_NO,
                        reply_partition=0,
                        sent_time=sent,
                    ),
                )
                while True:
                    env = await asyncio.wait_for(anext(answers), 30)
                    if env.value.request_id == request_id:
                        break
                if round_:
                    lat.setdefault(text, []).append((time.perf_counter() - t) * 1000)
        stop.set()
        await worker
    return lat


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=None)
    ap.add_argument("--lang", default="ru")
    ap.add_argument("--text", help="one reply (cut to 1 s) instead of the mix")
    ap.add_argument("--n", type=int, default=10, help="times each reply is sent")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--kafka", action="store_true", help="through asr.requests/asr.results and AsrService")
    ap.add_argument("--always-score", action="store_true", help="no fast accept (EngineOptions.fast_accept_logprob)")
    args = ap.parse_args()
    mix = [(args.lang, args.text)] if args.text else list(MIX)
    languages = sorted({lang for lang, _ in mix})
    chosen = models_from_env(args.models)
    options = EngineOptions(threads=args.threads)
    if args.always_score:
        options.fast_accept_logprob = None
    engine = AsrEngine({lang: chosen[lang] for lang in languages}, options)
    replies = [(lang, text, one_second(lang, text)) for lang, text in mix]
    for lang, _, pcm in replies:  # warm-up: first calls pay allocation and kernel selection
        engine.recognize([Utterance(pcm, 8000, lang, "yes_no")])
    cpu0 = time.process_time()
    if args.kafka:
        lat = asyncio.run(through_kafka(engine, replies, args.n))
    else:
        lat = through_engine(engine, replies, args.n)
    cpu = time.process_time() - cpu0
    every = [ms for values in lat.values() for ms in values]
    out = {
        "bench": "asr_latency",
        "path": "kafka" if args.kafka else "engine",
        "models": {lang: chosen[lang] for lang in languages},
        "replies": len(replies),
        "n": len(every),
        "p50_ms": round(float(np.percentile(every, 50)), 1),
        "p95_ms": round(float(np.percentile(every, 95)), 1),
        "cpu_ms_per_utterance": round(cpu / len(every) * 1000, 1),
        "utterances_per_s_per_core": round(len(every) / cpu, 2),
        "fast_accept": options.fast_accept_logprob is not None,
        "threads": args.threads or os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "p50_ms_by_reply": {text: round(float(np.percentile(v, 50)), 1) for text, v in lat.items()},
    }
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
