"""Latency of one 1 s reply through AsrEngine.recognize(), single requests. One JSON line.

Usage: .venv/bin/python bench/asr_latency.py [--models ru=base] [--lang ru] [--expect yes_no]
[--n 30] [--threads 0] [--min-frames 1000] [--text "Не знаю."] [--always-score]
utterances_per_s_per_core = requests per second of CPU time (process time), so it stays comparable
on a machine that other jobs share.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "asr"))

import asr_voices  # noqa: E402
from obzvon_asr.engine import AsrEngine, EngineOptions, Utterance, models_from_env  # noqa: E402

CACHE = ROOT / ".local" / "asr-set" / "audio"
TEXT = {"ru": "Да, конечно.", "en": "Yes, sure."}


def one_second(language: str, text: str | None = None) -> bytes:
    voice = asr_voices.available_voices(language)[0]
    pcm = asr_voices.cached_telephone(CACHE, voice, text or TEXT[language])
    samples = 8000
    # Exactly 1 s: the reply centred in silence (or trimmed), as the dialer's VAD cuts it.
    raw = pcm[: samples * 2]
    pad = samples * 2 - len(raw)
    return b"\0" * (pad // 2 // 2 * 2) + raw + b"\0" * (pad - pad // 2 // 2 * 2)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=None)
    ap.add_argument("--lang", default="ru")
    ap.add_argument("--expect", default="yes_no")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--min-frames", type=int, default=EngineOptions.min_frames)
    ap.add_argument("--text", help="another reply (cut to 1 s): e.g. one the free transcript does not settle")
    ap.add_argument("--always-score", action="store_true", help="no fast accept (EngineOptions.fast_accept_logprob)")
    args = ap.parse_args()
    chosen = models_from_env(args.models)
    options = EngineOptions(threads=args.threads, min_frames=args.min_frames)
    if args.always_score:
        options.fast_accept_logprob = None
    engine = AsrEngine({args.lang: chosen[args.lang]}, options)
    utt = Utterance(one_second(args.lang, args.text), 8000, args.lang, args.expect)
    engine.recognize([utt])  # warm-up: first call pays allocation and kernel selection
    lat: list[float] = []
    cpu0 = time.process_time()
    intents: dict[str, int] = {}
    scored = 0
    for _ in range(args.n):
        t = time.perf_counter()
        [r] = engine.recognize([utt])
        scored += len(r.scores) > 1
        lat.append((time.perf_counter() - t) * 1000)
        intents[r.intent] = intents.get(r.intent, 0) + 1
    cpu = time.process_time() - cpu0
    out = {
        "bench": "asr_latency",
        "model": chosen[args.lang],
        "lang": args.lang,
        "expect": args.expect,
        "text": args.text or TEXT[args.lang],
        "fast_accept": options.fast_accept_logprob is not None,
        "min_frames": args.min_frames,
        "n": args.n,
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "cpu_ms_per_utterance": round(cpu / args.n * 1000, 1),
        "utterances_per_s_per_core": round(args.n / cpu, 2),
        "threads": args.threads or os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "intents": intents,
        "scored": scored,
    }
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
