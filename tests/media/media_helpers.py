"""Helpers for the media and SIP tests: loopback-only, free ports, synthetic audio."""

from __future__ import annotations

import math
import random
import socket
import struct

LOOPBACK = "127.0.0.1"


def free_udp_port(span: int = 1) -> int:
    """A port p with p..p+span-1 free on 127.0.0.1 for UDP (for peers that bind it themselves)."""
    for _ in range(200):
        base = random.randrange(42000, 60000, 2)
        socks: list[socket.socket] = []
        try:
            for p in range(base, base + span):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((LOOPBACK, p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP port range on 127.0.0.1")


def tone(seconds: float, hz: float = 440.0, amp: int = 8000) -> bytes:
    n = int(8000 * seconds)
    return b"".join(struct.pack("<h", int(amp * math.sin(2 * math.pi * hz * i / 8000))) for i in range(n))


def silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(8000 * seconds)
