"""How many calls' RTP one dialer process carries on time: N sessions play G.711 audio to N peers.

One process, one shared MediaClock on uvloop, as in the dialer; the peers run in a second process
so the sender's core is measured alone. For each N: the clock's worst lateness, ticks skipped, the
share of packets the peers received, and the sender's CPU per packet sent. Prints one JSON line;
BENCH_CALLS="100,300,600" and BENCH_SECONDS=5 choose the load. BENCH_FORM chooses what is played:
"pcm16" (encoded to PCMU per packet, as on PCMA calls or for audio cached before tts stored µ-law)
or "pcmu" (tts's stored µ-law sent as is, as the dialer does on PCMU calls). Loopback only.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time

import uvloop
from obzvon.media import g711
from obzvon.media.clock import MediaClock
from obzvon.media.rtp import RtpSession

FORMS = ("pcm16", "pcmu")

PEER = """
import asyncio, sys, uvloop
from obzvon.media.clock import MediaClock
from obzvon.media.rtp import RtpSession
async def main(n):
    clock = MediaClock()
    sessions = [await RtpSession.open(clock) for _ in range(n)]
    print(" ".join(str(s.local_port) for s in sessions), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    print(sum(s.packets_received for s in sessions), flush=True)
uvloop.run(main(int(sys.argv[1])))
"""


async def run(n: int, seconds: float, form: str) -> dict[str, float]:
    # Started before the measurement begins, so its blocking start costs nothing measured.
    peer = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-c", PEER, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert peer.stdout is not None and peer.stdin is not None
    ports = [int(p) for p in (await asyncio.to_thread(peer.stdout.readline)).split()]
    clock = MediaClock()
    sessions = [await RtpSession.open(clock) for _ in range(n)]
    tone = b"".join(
        int(8000 * math.sin(2 * math.pi * 440 * i / 8000)).to_bytes(2, "little", signed=True)
        for i in range(int(8000 * seconds))
    )
    audio, encoded_as = (tone, None) if form == "pcm16" else (g711.encode(tone, g711.PT_PCMU), g711.PT_PCMU)
    for session, port in zip(sessions, ports, strict=True):
        session.connect(("127.0.0.1", port), g711.PT_PCMU)
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(s.play(audio, encoded_as=encoded_as) for s in sessions))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    for s in sessions:
        await s.close()
    sent = sum(s.packets_sent for s in sessions)
    await asyncio.sleep(0.3)  # the last packets in flight
    peer.stdin.write("\n")
    peer.stdin.flush()
    received = int(await asyncio.to_thread(peer.stdout.readline))
    peer.wait(timeout=10)
    await clock.close()
    return {
        "calls": n,
        "max_lateness_ms": round(clock.max_lateness_s * 1000, 1),
        "ticks_skipped": clock.skipped,
        "received_share": round(received / max(sent, 1), 4),
        "sender_cpu_share": round(cpu / wall, 2),
        "sender_cpu_us_per_packet": round(cpu / max(sent, 1) * 1e6, 1),
    }


async def main() -> None:
    loads = [int(x) for x in os.environ.get("BENCH_CALLS", "100,300,600").split(",")]
    seconds = float(os.environ.get("BENCH_SECONDS", "5"))
    form = os.environ.get("BENCH_FORM", "pcm16")
    if form not in FORMS:
        raise SystemExit(f"BENCH_FORM must be one of {', '.join(FORMS)}")
    results = [await run(n, seconds, form) for n in loads]
    on_time = [
        r["calls"]
        for r in results
        if r["ticks_skipped"] == 0 and r["received_share"] >= 0.999 and r["max_lateness_ms"] <= 20
    ]
    print(
        json.dumps(
            {
                "bench": "rtp_capacity",
                "form": form,
                "seconds": seconds,
                "runs": results,
                "most_calls_on_time": max(on_time, default=0),
            }
        )
    )


if __name__ == "__main__":
    uvloop.run(main())
