"""Spoken codes (expect="digits"): how often obzvon-asr reads the whole code right. One JSON line.

Random 4-digit codes read digit by digit («Пять, один, восемь, один.», "Five, one, eight, one."),
every offline voice of tests/asr/asr_voices.py (new ones included) (never espeak-ng for Russian), rendered through the
8 kHz G.711 line and cached under .local/asr-set/. Compares the engine's digit reading (digit-only
decoding, AsrEngine._decode_digits) with parsing the free transcript (intents.digits), on the same
recognitions. Seeds 7-14 were looked at while the digit reading was built ("tuning"); 15-18 were
not ("held_out"): a gap between them is what was fitted.

Usage: .venv/bin/python bench/asr_digits.py [--split tuning|held_out|all] [--per-seed 24] [--errors]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "asr"))

import asr_voices  # noqa: E402
from obzvon_asr import intents  # noqa: E402
from obzvon_asr.engine import AsrEngine, Utterance, models_from_env  # noqa: E402

CACHE = ROOT / ".local" / "asr-set" / "digits"
WORDS = {
    "ru": "ноль один два три четыре пять шесть семь восемь девять".split(),
    "en": "zero one two three four five six seven eight nine".split(),
}
SPLITS = {"tuning": (7, 8, 9, 10, 11, 12, 13, 14), "held_out": (15, 16, 17, 18)}


def build_set(seeds: tuple[int, ...], per_seed: int) -> list[tuple[str, str, str, str, bytes]]:
    """(split seed as text, language, voice, code, pcm16 at 8 kHz)."""
    voices = {
        lang: [v for v in asr_voices.available_voices(lang, new=True) if not (lang == "ru" and v.kind == "espeak")]
        for lang in WORDS
    }
    out: list[tuple[str, str, str, str, bytes]] = []
    for seed in seeds:
        rng = random.Random(seed)
        for k in range(per_seed):
            lang = "ru" if k % 2 == 0 else "en"
            code = "".join(rng.choice("0123456789") for _ in range(4))
            text = ", ".join(WORDS[lang][int(c)] for c in code) + "."
            voice = voices[lang][k // 2 % len(voices[lang])]
            pcm = asr_voices.cached_telephone(CACHE, voice, text[:1].upper() + text[1:])
            out.append((str(seed), lang, voice.name, code, pcm))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=None)
    ap.add_argument("--split", choices=("tuning", "held_out", "all"), default="all")
    ap.add_argument("--per-seed", type=int, default=24)
    ap.add_argument("--errors", action="store_true", help="list misread codes on stderr")
    args = ap.parse_args()
    seeds = SPLITS["tuning"] + SPLITS["held_out"] if args.split == "all" else SPLITS[args.split]
    data = build_set(seeds, args.per_seed)
    engine = AsrEngine(models_from_env(args.models))
    right = {"digit_decoding": 0, "free_transcript": 0}
    by_split: dict[str, list[int]] = {}
    by_language: dict[str, list[int]] = {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for seed, lang, voice, code, pcm in data:
        [r] = engine.recognize([Utterance(pcm, 8000, lang, "digits")])
        ok = r.value == code
        right["digit_decoding"] += ok
        right["free_transcript"] += intents.digits(r.transcript) == code
        split = "tuning" if int(seed) in SPLITS["tuning"] else "held_out"
        for table, key in ((by_split, split), (by_language, lang)):
            table.setdefault(key, [0, 0])
            table[key][0] += ok
            table[key][1] += 1
        if args.errors and not ok:
            print(f"{lang} {voice}: {code} -> {r.value!r} (transcript {r.transcript!r})", file=sys.stderr)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n = len(data)
    out = {
        "bench": "asr_digits",
        "split": args.split,
        "n": n,
        "code_accuracy": round(right["digit_decoding"] / n, 4),
        "code_accuracy_free_transcript": round(right["free_transcript"] / n, 4),
        "by_split": {k: {"code_accuracy": round(ok / m, 4), "n": m} for k, (ok, m) in by_split.items()},
        "by_language": {k: {"code_accuracy": round(ok / m, 4), "n": m} for k, (ok, m) in by_language.items()},
        "cpu_s_per_utterance": round(cpu / n, 3),
        "wall_s_per_utterance": round(wall / n, 3),
    }
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
