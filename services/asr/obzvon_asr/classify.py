"""`obzvon-asr classify FILE.wav --lang ru|en --expect yes_no|digits|free|choice`: one JSON line.

The file may be any phone recording: WAV in PCM16, μ-law or A-law, any rate, mono or stereo
(`--channel`). One that cannot be read ends in one line naming the problem and exit status 2.

The same AsrEngine.recognize() the service calls, on one file, for trying a recording by hand."""

from __future__ import annotations

import argparse
import json
import sys

from obzvon_asr.engine import EXPECTS, AsrEngine, Utterance, models_from_env
from obzvon_asr.recording import CHANNELS, RecordingError, read_recording


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="obzvon-asr classify", description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--lang", default="ru")
    parser.add_argument("--expect", default="yes_no", choices=EXPECTS)
    parser.add_argument("--choice", action="append", default=[], help="an allowed answer (expect=choice)")
    parser.add_argument("--model", help="model for --lang: tiny.en, base or a folder (default: OBZVON_ASR_MODELS)")
    parser.add_argument("--channel", default="mix", choices=CHANNELS, help="of a stereo recording (default: mix)")
    args = parser.parse_args(argv)
    try:
        audio = read_recording(args.file, args.channel)
    except RecordingError as e:
        print(f"obzvon-asr classify: {e}", file=sys.stderr)
        return 2
    chosen = models_from_env()
    model = args.model or chosen.get(args.lang)
    if model is None:
        print(f"no model configured for language {args.lang!r}", file=sys.stderr)
        return 2
    engine = AsrEngine({args.lang: model})
    utterance = Utterance(audio.pcm16, audio.sample_rate, args.lang, args.expect, tuple(args.choice))
    result = engine.recognize([utterance])[0]
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
