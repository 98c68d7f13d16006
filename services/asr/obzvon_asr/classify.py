"""`obzvon-asr classify FILE.wav --lang ru|en --expect yes_no|digits|free|choice`: one JSON line.

The same AsrEngine.recognize() the service calls, on one file, for trying a recording by hand."""

from __future__ import annotations

import argparse
import json
import sys
import wave

from obzvon_asr.engine import EXPECTS, AsrEngine, Utterance, models_from_env


def _read_wav(path: str) -> tuple[bytes, int]:
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: need 16-bit PCM WAV")
        frames = w.readframes(w.getnframes())
        rate = w.getframerate()
        if w.getnchannels() == 2:
            # Keep the left channel: telephone recordings are mono in practice.
            frames = b"".join(frames[i : i + 2] for i in range(0, len(frames), 4))
        elif w.getnchannels() != 1:
            raise SystemExit(f"{path}: need mono or stereo")
    return frames, rate


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="obzvon-asr classify", description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--lang", default="ru")
    parser.add_argument("--expect", default="yes_no", choices=EXPECTS)
    parser.add_argument("--choice", action="append", default=[], help="an allowed answer (expect=choice)")
    parser.add_argument("--model", help="model for --lang: tiny.en, base or a folder (default: OBZVON_ASR_MODELS)")
    args = parser.parse_args(argv)
    pcm, rate = _read_wav(args.file)
    chosen = models_from_env()
    model = args.model or chosen.get(args.lang)
    if model is None:
        print(f"no model configured for language {args.lang!r}", file=sys.stderr)
        return 2
    engine = AsrEngine({args.lang: model})
    result = engine.recognize([Utterance(pcm, rate, args.lang, args.expect, tuple(args.choice))])[0]
    out: dict[str, object] = {
        "text": result.text,
        "intent": result.intent,
        "confidence": result.confidence,
        "ms": result.ms,
    }
    if result.value:
        out["value"] = result.value
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
