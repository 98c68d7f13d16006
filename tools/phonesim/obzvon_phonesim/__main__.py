"""obzvon-phonesim serve --sip-port 5070 --ground-truth calls.jsonl --mix yes=0.6,no=0.4 ...

obzvon-phonesim compare --ground-truth calls.jsonl --topic-prefix demo-1. [--campaign ID]: what Obzvon
recorded (call.events, or --events FILE) against what the phones did, per contact; exit status 1 on
any difference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path

from obzvon_phonesim import compare
from obzvon_phonesim.operator import parse_operators
from obzvon_phonesim.sim import BEHAVIOURS, PhoneSimulator, parse_mix


def _rule(text: str) -> tuple[str, str]:
    number, sep, behaviour = text.partition("=")
    if not sep or behaviour not in BEHAVIOURS:
        raise argparse.ArgumentTypeError(f"expected NUMBER=BEHAVIOUR with one of {', '.join(BEHAVIOURS)}")
    return number, behaviour


def _mix(text: str) -> str:
    try:
        parse_mix(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="obzvon-phonesim", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="answer calls on 127.0.0.1 until interrupted")
    s.add_argument("--sip-port", type=int, default=5070, help="UDP port on 127.0.0.1 (0: any free port)")
    s.add_argument("--ground-truth", type=Path, default=None, help="JSON lines file, appended to")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--mix",
        type=_mix,
        default="yes=0.6,no=0.2,busy=0.1,no_answer=0.1",
        help=f"behaviour=weight,... of: {', '.join(BEHAVIOURS)}",
    )
    s.add_argument("--rule", type=_rule, action="append", default=[], metavar="NUMBER=BEHAVIOUR")
    s.add_argument("--ring-s", type=float, default=1.0)
    s.add_argument("--max-ring-s", type=float, default=120.0)
    s.add_argument("--early-hangup-s", type=float, default=1.0)
    s.add_argument("--listen-timeout-s", type=float, default=15.0)
    s.add_argument("--max-call-s", type=float, default=60.0)
    s.add_argument(
        "--end-silence-ms", type=int, default=700, help="robot silence that ends its turn (the phone then replies)"
    )
    s.add_argument(
        "--operator",
        action="append",
        default=[],
        metavar="EXTENSION=answer[:DELAY_S]|busy|no_answer",
        help="an operator a transfer node may ring (operator.py)",
    )
    s.add_argument("-v", "--verbose", action="store_true")
    c = sub.add_parser("compare", help="compare a campaign's call record with the phones' ground truth")
    c.add_argument("--ground-truth", type=Path, required=True, help="the simulator's JSON lines file")
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument("--events", type=Path, help="call events as JSON lines (compare.write_events)")
    source.add_argument("--topic-prefix", help="read call.events of this topic prefix from Kafka")
    c.add_argument("--kafka-bootstrap", default="127.0.0.1:9092")
    c.add_argument("--tenant", default="", help="only this tenant's events")
    c.add_argument("--campaign", default="", help="only this campaign's events")
    c.add_argument("--numbers", type=Path, help="only these contacts' numbers (one a line) on both sides")
    c.add_argument("--limit", type=int, default=50, help="differences listed (all are counted)")
    return p


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with PhoneSimulator(
        sip_port=args.sip_port,
        ground_truth=args.ground_truth,
        mix=args.mix,
        rules=dict(args.rule),
        seed=args.seed,
        ring_s=args.ring_s,
        max_ring_s=args.max_ring_s,
        early_hangup_s=args.early_hangup_s,
        listen_timeout_s=args.listen_timeout_s,
        max_call_s=args.max_call_s,
        end_silence_ms=args.end_silence_ms,
        operators=parse_operators(args.operator),
    ) as sim:
        # Parents (tests, scripts) wait for this line before dialling.
        print(f"obzvon-phonesim listening on 127.0.0.1:{sim.port}", flush=True)
        await stop.wait()


def _compare(args: argparse.Namespace) -> int:
    if args.events is not None:
        events = compare.read_events(args.events)
    else:
        events = asyncio.run(
            compare.read_call_events(
                args.kafka_bootstrap, args.topic_prefix, tenant_id=args.tenant, campaign_id=args.campaign
            )
        )
    if args.events is not None and (args.tenant or args.campaign):
        events = [e for e in events if args.tenant in ("", e.tenant_id) and args.campaign in ("", e.campaign_id)]
    numbers = args.numbers.read_text().split() if args.numbers is not None else None
    result = compare.compare(events, compare.read_phone_calls(args.ground_truth), numbers=numbers)
    print(json.dumps(result.as_dict(limit=args.limit), ensure_ascii=False))
    return 0 if result.matches_ground_truth else 1


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "compare":
        sys.exit(_compare(args))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
