"""How many calls' RTP one dialer process carries on time: N sessions play G.711 audio to N peers.

One process, one shared MediaClock on uvloop, as in the dialer; the peers run in a second process
so the sender's core is measured alone. For each N: the clock's worst lateness, ticks skipped, and
the share of packets the peers received. Prints one JSON line; BENCH_CALLS="100,300,600" and
BENCH_SECONDS=5 choose the load. Loopback only.
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
from obzvon.media.clock import MediaClock
from obzvon.media.rtp import RtpSession

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


async def run(n: int, seconds: float) -> dict[str, float]:
    # Started before the measurement begins, so its blocking start costs nothing measured.
    peer = subprocess.Popen([sys.executable, "-c", PEER, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: ASYNC220
                            text=True)
    assert peer.stdout is not None and peer.stdin is not None
    ports = [int(p) for p in (await asyncio.to_thread(peer.stdout.readline)).split()]
    clock = MediaClock()
    sessions = [await RtpSession.open(clock) for _ in range(n)]
    tone = b"".join(int(8000 * math.sin(2 * math.pi * 440 * i / 8000)).to_bytes(2, "little", signed=True)
                    for i in range(int(8000 * seconds)))
    for session, port in zip(sessions, ports, strict=True):
        session.connect(("127.0.0.1", port), 0)
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(s.play(tone) for s in sessions))
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
    return {"calls": n, "max_lateness_ms": round(clock.max_lateness_s * 1000, 1), "ticks_skipped": clock.skipped,
            "received_share": round(received / max(sent, 1), 4), "sender_cpu_share": round(cpu / wall, 2)}


async def main() -> None:
    loads = [int(x) for x in os.environ.get("BENCH_CALLS", "100,300,600").split(",")]
    seconds = float(os.environ.get("BENCH_SECONDS", "5"))
    results = [await run(n, seconds) for n in loads]
    on_time = [r["calls"] for r in results if r["ticks_skipped"] == 0 and r["received_share"] >= 0.999
               and r["max_lateness_ms"] <= 20]
    print(json.dumps({"bench": "rtp_capacity", "seconds": seconds, "runs": results,
                      "most_calls_on_time": max(on_time, default=0)}))


if __name__ == "__main__":
    uvloop.run(main())
