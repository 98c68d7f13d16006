"""Intent accuracy and WER of obzvon-asr on a reproducible synthetic telephone set. One JSON line.

The set is rendered offline (Festival ru; Festival, espeak-ng and Piper en; never espeak-ng for
Russian), varied in tempo, pitch and line noise, put through 8 kHz G.711 µ-law, and cached under
.local/asr-set/. Usage: .venv/bin/python bench/asr_accuracy.py [--models ru=base,en=base]
[--min-frames 1000] [--expect yes_no] [--limit N] [--errors]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "asr"))

import asr_voices  # noqa: E402
from obzvon_asr import intents  # noqa: E402
from obzvon_asr.engine import AsrEngine, EngineOptions, Utterance, models_from_env  # noqa: E402

CACHE = ROOT / ".local" / "asr-set" / "audio"

PHRASES: dict[str, list[tuple[str, str]]] = {
    "ru": [
        ("Да.", "yes"),
        ("Да, конечно.", "yes"),
        ("Ага.", "yes"),
        ("Конечно.", "yes"),
        ("Давайте.", "yes"),
        ("Да, приду.", "yes"),
        ("Хорошо.", "yes"),
        ("Угу.", "yes"),
        ("Нет.", "no"),
        ("Нет, не надо.", "no"),
        ("Не интересно.", "no"),
        ("Нет, спасибо.", "no"),
        ("Не нужно.", "no"),
        ("Нет, я не приду.", "no"),
        ("Не звоните мне больше.", "opt_out"),
        ("Удалите мой номер.", "opt_out"),
        ("Отпишите меня.", "opt_out"),
        ("Хватит мне звонить.", "opt_out"),
        ("Больше не звоните сюда.", "opt_out"),
        ("Перезвоните позже.", "callback"),
        ("Перезвоните вечером.", "callback"),
        ("Сейчас неудобно, я за рулём.", "callback"),
        ("Соедините с оператором.", "operator"),
        ("Можно поговорить с живым человеком?", "operator"),
        ("Алло, кто это?", "other"),
        ("Я сейчас в магазине стою.", "other"),
        ("Не знаю.", "other"),
        ("Какая сегодня погода?", "other"),
    ],
    "en": [
        ("Yes.", "yes"),
        ("Yeah.", "yes"),
        ("Sure.", "yes"),
        ("Yes, please.", "yes"),
        ("Of course.", "yes"),
        ("Okay.", "yes"),
        ("Yes, I will be there.", "yes"),
        ("No.", "no"),
        ("Nope.", "no"),
        ("No thanks.", "no"),
        ("I'm not interested.", "no"),
        ("No, thank you.", "no"),
        ("Stop calling me.", "opt_out"),
        ("Please remove my number.", "opt_out"),
        ("Unsubscribe.", "opt_out"),
        ("Don't call me again.", "opt_out"),
        ("Call me back later.", "callback"),
        ("Not now, I'm driving.", "callback"),
        ("Let me talk to an operator.", "operator"),
        ("I want to speak to a real person.", "operator"),
        ("Hello, who is this?", "other"),
        ("I don't know.", "other"),
        ("The weather is lovely today.", "other"),
    ],
}

# (tempo, pitch in cents, line noise dBFS or None); cycled over phrases per voice so every phrase
# meets several conditions across voices without multiplying the set.
VARIANTS: list[tuple[float, int, float | None]] = [
    (1.0, 0, None),
    (1.15, 0, -45.0),
    (0.9, -150, None),
    (1.0, 200, -38.0),
]


def held_out(voice: str, text: str, variant: tuple[float, int, float | None]) -> bool:
    """Fixed split of the set (about half each way, by a CRC of the reply's voice, sentence and
    condition): anything tuned (phrasings, thresholds) is tuned on the other half and reported
    on this one too (--split heldout), so a change fitted to the set shows up as a gap."""
    return zlib.crc32(f"split-v1|{voice}|{text}|{variant}".encode()) % 2 == 1


def build_set(limit: int | None, split: str = "all") -> list[tuple[str, str, str, str, bytes]]:
    """(language, voice, text, intent, pcm16 at 8 kHz); split: all | tune | heldout."""
    out: list[tuple[str, str, str, str, bytes]] = []
    for language, phrases in PHRASES.items():
        voices = [v for v in asr_voices.available_voices(language) if not (language == "ru" and v.kind == "espeak")]
        for vi, voice in enumerate(voices):
            for pi, (text, intent) in enumerate(phrases):
                variants = [VARIANTS[(pi + vi) % len(VARIANTS)]]
                if language == "ru":  # one Russian voice: give it more conditions
                    variants.append(VARIANTS[(pi + vi + 2) % len(VARIANTS)])
                for tempo, pitch, noise in variants:
                    if split != "all" and held_out(voice.name, text, (tempo, pitch, noise)) != (split == "heldout"):
                        continue
                    pcm = asr_voices.cached_telephone(
                        CACHE, voice, text, tempo=tempo, pitch_cents=pitch, noise_db=noise, seed=pi
                    )
                    out.append((language, voice.name, text, intent, pcm))
    return out[:limit] if limit else out


def wer(ref: str, hyp: str) -> tuple[int, int]:
    r, h = intents.normalize(ref).split(), intents.normalize(hyp).split()
    d = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return d[len(h)], len(r)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=None)
    ap.add_argument("--min-frames", type=int, default=EngineOptions.min_frames)
    ap.add_argument("--expect", default="yes_no")
    ap.add_argument("--no-scoring", action="store_true", help="decide from the free transcript only")
    ap.add_argument("--bonus", type=float, default=EngineOptions.candidate_bonus)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--split", choices=("all", "tune", "heldout"), default="all", help="see held_out()")
    ap.add_argument("--errors", action="store_true", help="list misrecognitions on stderr")
    ap.add_argument("--dump", type=Path, help="write every result (scores included) as JSON lines here")
    args = ap.parse_args()
    chosen = models_from_env(args.models)
    data = build_set(args.limit, args.split)
    options = EngineOptions(min_frames=args.min_frames, score_closed=not args.no_scoring, candidate_bonus=args.bonus)
    engine = AsrEngine(chosen, options)
    stats: dict[str, dict[str, float]] = {}
    by_voice: dict[str, list[int]] = {}
    dump = open(args.dump, "w") if args.dump else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for first in range(0, len(data), args.batch):
        chunk = data[first : first + args.batch]
        results = engine.recognize([Utterance(pcm, 8000, lang, args.expect) for lang, _, _, _, pcm in chunk])
        for (lang, voice, text, intent, _), r in zip(chunk, results, strict=True):
            s = stats.setdefault(lang, {"n": 0, "correct": 0, "errors": 0, "words": 0})
            s["n"] += 1
            s["correct"] += r.intent == intent
            v = by_voice.setdefault(voice, [0, 0])
            v[0] += r.intent == intent
            v[1] += 1
            e, w = wer(text, r.text)
            s["errors"] += e
            s["words"] += w
            if dump:
                row = {
                    "lang": lang,
                    "voice": voice,
                    "ref": text,
                    "want": intent,
                    "got": r.intent,
                    "text": r.text,
                    "transcript": r.transcript,
                    "scores": r.scores,
                }
                dump.write(json.dumps(row, ensure_ascii=False) + "\n")
            if args.errors and r.intent != intent:
                print(f"{lang} {voice}: {text!r} -> {r.intent} {r.text!r} {r.confidence}", file=sys.stderr)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n = sum(s["n"] for s in stats.values())
    out = {
        "bench": "asr_accuracy",
        "models": chosen,
        "min_frames": args.min_frames,
        "expect": args.expect,
        "split": args.split,
        "scoring": options.score_closed,
        "candidate_bonus": options.candidate_bonus,
        "n": n,
        "intent_accuracy": round(sum(s["correct"] for s in stats.values()) / n, 4),
        "wer": round(sum(s["errors"] for s in stats.values()) / max(1, sum(s["words"] for s in stats.values())), 4),
        "cpu_s_per_utterance": round(cpu / n, 3),
        "wall_s_per_utterance": round(wall / n, 3),
        "by_language": {
            lang: {
                "n": int(s["n"]),
                "intent_accuracy": round(s["correct"] / s["n"], 4),
                "wer": round(s["errors"] / max(1, s["words"]), 4),
            }
            for lang, s in stats.items()
        },
        "intent_accuracy_by_voice": {name: round(ok / n, 4) for name, (ok, n) in by_voice.items()},
    }
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
