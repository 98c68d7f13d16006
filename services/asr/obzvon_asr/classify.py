"""`obzvon-asr classify FILE.wav --lang ru|en --expect yes_no|digits|free|choice`: one JSON line.

The file may be any phone recording: WAV in PCM16, μ-law or A-law, any rate, mono or stereo
(`--channel`). One that cannot be read ends in one line naming the problem and exit status 2.

Beside intent and confidence it prints "decision": what the dialog would do with the reply (commit,
confirm or reask), from the rule the dialer uses (obzvon.decisions); `--confirm-below` mirrors a
script question's confirm_below (the demo script sets none: 0, nothing is confirmed).

The same AsrEngine.recognize() the service calls, on one file, for trying a recording by hand."""

from __future__ import annotations

import argparse
import json
import sys

from obzvon.decisions import Decision, decide
from obzvon.v1 import scripts_pb2

from obzvon_asr.engine import EXPECTS, AsrEngine, Recognition, Utterance, models_from_env
from obzvon_asr.recording import CHANNELS, RecordingError, read_recording


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="obzvon-asr classify", description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--lang", default="ru")
    parser.add_argument("--expect", default="yes_no", choices=EXPECTS)
    parser.add_argument("--choice", action="append", default=[], help="an allowed answer (expect=choice)")
    parser.add_argument("--model", help="model for --lang: tiny.en, base or a folder (default: OBZVON_ASR_MODELS)")
    parser.add_argument("--channel", default="mix", choices=CHANNELS, help="of a stereo recording (default: mix)")
    parser.add_argument(
        "--confirm-below",
        type=_confidence,
        default=0.0,
        help="a script question's confirm_below: a scored yes/no below it is confirmed (default 0: off)",
    )
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
    print(json.dumps(report(result, args.expect, args.confirm_below), ensure_ascii=False))
    return 0


# asr's expect -> the script question's (a free reply is no question: nothing to confirm).
SCRIPT_EXPECT: dict[str, scripts_pb2.Expect.ValueType] = {
    "yes_no": scripts_pb2.EXPECT_YES_NO,
    "digits": scripts_pb2.EXPECT_DIGITS,
    "choice": scripts_pb2.EXPECT_CHOICE,
    "free": scripts_pb2.EXPECT_UNSPECIFIED,
}


def decision_for(result: Recognition, expect: str, confirm_below: float) -> Decision:
    """What the dialer does with this reply at its first ask (the shared rule, no key pressed)."""
    return decide(
        intent=result.intent,
        decided_by=result.decided_by,
        confidence=result.confidence,
        expect=SCRIPT_EXPECT[expect],
        confirm_below=confirm_below,
        value=result.value,
    )


def report(result: Recognition, expect: str, confirm_below: float) -> dict[str, object]:
    """The printed line: what was heard, and what the dialog would do with it."""
    decision = decision_for(result, expect, confirm_below)
    out: dict[str, object] = {
        "text": result.text,
        "intent": result.intent,
        "confidence": result.confidence,
        "decision": decision.value,
        "decided_by": result.decided_by,
        "ms": result.ms,
    }
    if result.value:
        out["value"] = result.value
    return out


def _confidence(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value < 1.0:  # as script validation requires of confirm_below
        raise argparse.ArgumentTypeError("a confidence from 0 (off) to below 1")
    return value


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
