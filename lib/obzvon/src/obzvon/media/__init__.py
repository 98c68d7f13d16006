"""Telephone media: G.711, a shared 20 ms clock, RTP endpoints, VAD and WAV helpers."""

from obzvon.media.clock import MediaClock
from obzvon.media.g711 import FRAME_BYTES, FRAME_SAMPLES, PT_PCMA, PT_PCMU, SAMPLE_RATE, decode, encode
from obzvon.media.rtp import RtpSession
from obzvon.media.vad import UtteranceDetector, VadEvent, listen_for_utterance

__all__ = [
    "FRAME_BYTES",
    "FRAME_SAMPLES",
    "PT_PCMA",
    "PT_PCMU",
    "SAMPLE_RATE",
    "MediaClock",
    "RtpSession",
    "UtteranceDetector",
    "VadEvent",
    "decode",
    "encode",
    "listen_for_utterance",
]
