"""G.711 PCMU/PCMA <-> PCM16 little-endian mono 8 kHz, via the C `audioop` module.

audioop is ~15x cheaper per frame than aiortc's PyAV-backed codecs (sip-notes.md), and the
per-frame budget is what limits calls per core.
"""

from obzvon.media._audioop import audioop

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * 2  # PCM16
PT_PCMU = 0
PT_PCMA = 8
CODEC_NAMES = {PT_PCMU: "PCMU", PT_PCMA: "PCMA"}

# Encoded silence: digital zero in each law, so idle frames cost no encode call.
SILENCE_PCM = b"\x00" * FRAME_BYTES


def encode(pcm16: bytes, payload_type: int) -> bytes:
    if payload_type == PT_PCMU:
        return audioop.lin2ulaw(pcm16, 2)
    if payload_type == PT_PCMA:
        return audioop.lin2alaw(pcm16, 2)
    raise ValueError(f"unsupported payload type {payload_type}")


def decode(payload: bytes, payload_type: int) -> bytes:
    if payload_type == PT_PCMU:
        return audioop.ulaw2lin(payload, 2)
    if payload_type == PT_PCMA:
        return audioop.alaw2lin(payload, 2)
    raise ValueError(f"unsupported payload type {payload_type}")


SILENCE_ENCODED = {pt: encode(SILENCE_PCM, pt) for pt in CODEC_NAMES}


def rms(pcm16: bytes) -> int:
    return int(audioop.rms(pcm16, 2)) if pcm16 else 0
