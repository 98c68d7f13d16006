from __future__ import annotations

import asyncio
import itertools
import math
import struct
import wave
from pathlib import Path

from aiortc.rtp import RtpPacket
from media_helpers import LOOPBACK, tone
from obzvon.media import FRAME_BYTES, MediaClock, RtpSession, decode, encode
from obzvon.media.g711 import SILENCE_ENCODED, rms
from obzvon.media.wav import read_wav_8k, write_wav_8k


def snr_db(ref: bytes, out: bytes) -> float:
    a = struct.unpack(f"<{len(ref) // 2}h", ref)
    b = struct.unpack(f"<{len(out) // 2}h", out)
    sig = sum(x * x for x in a)
    err = sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) or 1
    return 10 * math.log10(sig / err)


def test_g711_round_trip_keeps_the_signal() -> None:
    pcm = tone(0.2, 1000, 8000)
    for pt in (0, 8):
        enc = encode(pcm, pt)
        assert len(enc) == len(pcm) // 2
        out = decode(enc, pt)
        assert len(out) == len(pcm)
        assert snr_db(pcm, out) > 30, pt  # G.711 gives ~38 dB on a mid-level tone


def test_wav_of_any_format_becomes_pcm16_8k(tmp_path: Path) -> None:
    src = tmp_path / "stereo16k.wav"
    samples = tone(0.5, 440, 6000)
    # 16 kHz stereo: duplicate each sample twice in time and across channels
    frames = b"".join(samples[i : i + 2] * 4 for i in range(0, len(samples), 2))
    with wave.open(str(src), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(frames)
    pcm = read_wav_8k(src)
    assert abs(len(pcm) - len(samples)) <= 4
    assert rms(pcm) > 3000
    out = tmp_path / "out.wav"
    write_wav_8k(out, pcm)
    with wave.open(str(out), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)


class _Sniffer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: list[tuple[float, RtpPacket]] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append((asyncio.get_running_loop().time(), RtpPacket.parse(data)))


async def test_rtp_is_paced_steady_and_plays_completely(clock: MediaClock) -> None:
    loop = asyncio.get_running_loop()
    transport, sniffer = await loop.create_datagram_endpoint(_Sniffer, local_addr=(LOOPBACK, 0))
    a = await RtpSession.open(clock)
    a.connect((LOOPBACK, transport.get_extra_info("sockname")[1]), 8)
    t0 = loop.time()
    assert await a.play(tone(1.0)) is True
    elapsed = loop.time() - t0
    await asyncio.sleep(0.1)
    await a.close()
    transport.close()
    raw = sniffer.packets
    assert 0.95 <= elapsed <= 1.3, elapsed
    seqs = [p.sequence_number for _, p in raw]
    assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs)), "gap or reorder"
    tss = [p.timestamp for _, p in raw]
    assert all((y - x) & 0xFFFFFFFF == 160 for x, y in itertools.pairwise(tss))
    assert {p.payload_type for _, p in raw} == {8}
    assert raw[0][1].marker == 1
    assert all(len(p.payload) == 160 for _, p in raw)
    # Steady and drift-free: arrivals track start + n*20 ms. A stall of the shared host may
    # delay a few packets (the clock then catches up), but may not shift the schedule.
    t_first = raw[0][0]
    lateness = sorted(t - t_first - 0.02 * i for i, (t, _) in enumerate(raw))
    assert abs(raw[-1][0] - t_first - 0.02 * (len(raw) - 1)) < 0.04, lateness[-5:]
    assert lateness[len(lateness) * 9 // 10] < 0.02, lateness[-10:]
    voiced = [p for _, p in raw if rms(decode(p.payload, 8)) > 1000]
    assert len(voiced) == 50  # exactly the 1 s of tone, then silence


async def test_received_audio_is_rechunked_into_20ms_frames(clock: MediaClock) -> None:
    # SIPp's PCMA pcap uses 30 ms packets; the receiver must still hand out 20 ms frames.
    b = await RtpSession.open(clock)
    frames: list[bytes] = []
    b.on_frame = frames.append
    loop = asyncio.get_running_loop()
    tx, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(LOOPBACK, 0))
    b.connect(tx.get_extra_info("sockname")[:2], 8)  # RTP is taken from the negotiated source only
    pcm = tone(0.3)
    for i in range(10):
        chunk = pcm[i * 480 : (i + 1) * 480]
        pkt = RtpPacket(payload_type=8, sequence_number=i, timestamp=i * 240, ssrc=1, payload=encode(chunk, 8))
        tx.sendto(pkt.serialize(), (LOOPBACK, b.local_port))
    await asyncio.sleep(0.2)
    tx.close()
    await b.close()
    assert len(frames) == 15
    assert all(len(f) == FRAME_BYTES for f in frames)
    assert snr_db(pcm, b"".join(frames)) > 30


async def test_clock_keeps_time_without_drift() -> None:
    clock = MediaClock()
    ticks: list[float] = []
    loop = asyncio.get_running_loop()
    clock.register(lambda n: ticks.append(loop.time()))
    await asyncio.sleep(1.0)
    await clock.close()
    # 1 s at 20 ms: 50 ticks (fewer only if a stall made the clock skip; never more)
    assert 45 <= len(ticks) <= 51, len(ticks)
    span = ticks[-1] - ticks[0]
    assert abs(span - 0.02 * (len(ticks) - 1)) < 0.03, span


async def test_stop_playback_interrupts_and_silence_follows(clock: MediaClock) -> None:
    a = await RtpSession.open(clock)
    b = await RtpSession.open(clock)
    frames: list[bytes] = []
    b.on_frame = frames.append
    a.connect((LOOPBACK, b.local_port), 0)
    b.connect((LOOPBACK, a.local_port), 0)  # RTP is taken from the negotiated source only
    play = asyncio.ensure_future(a.play(tone(3.0)))
    await asyncio.sleep(0.3)
    a.stop_playback()
    assert await play is False
    n = len(frames)
    await asyncio.sleep(0.3)
    after = frames[n + 2 :]
    await a.close()
    await b.close()
    assert after and all(rms(f) == 0 for f in after), "silence frames keep the stream steady"
    assert len(frames) < 40


async def _sniff_play(clock: MediaClock, session_pt: int, audio: bytes, encoded_as: int | None) -> list[RtpPacket]:
    """The packets one play() of `audio` puts on the wire, without the silence around it."""
    loop = asyncio.get_running_loop()
    transport, sniffer = await loop.create_datagram_endpoint(_Sniffer, local_addr=(LOOPBACK, 0))
    a = await RtpSession.open(clock)
    a.connect((LOOPBACK, transport.get_extra_info("sockname")[1]), session_pt)
    await asyncio.sleep(0.05)
    assert await a.play(audio, encoded_as=encoded_as) is True
    await asyncio.sleep(0.1)
    await a.close()
    transport.close()
    packets = [p for _, p in sniffer.packets]
    start = next(i for i, p in enumerate(packets) if p.payload != SILENCE_ENCODED[session_pt])
    step = 320 if encoded_as is None else 160
    return packets[start : start + -(-len(audio) // step)]


async def test_stored_g711_in_the_calls_codec_goes_out_as_it_is(clock: MediaClock) -> None:
    pcm = tone(0.5, 440) + tone(0.05, 1000)  # 27.5 frames: the last packet is padded
    pcmu = encode(pcm, 0)
    packets = await _sniff_play(clock, 0, pcmu, encoded_as=0)
    assert {p.payload_type for p in packets} == {0}
    assert all(len(p.payload) == 160 for p in packets)
    assert b"".join(p.payload for p in packets)[: len(pcmu)] == pcmu
    assert packets[-1].payload[len(pcmu) % 160 :] == b"\xff" * (160 - len(pcmu) % 160)  # µ-law silence
    # The same packets as PCM16 encoded per frame, the path PCMA calls and older cache entries take.
    encoded = await _sniff_play(clock, 0, pcm, encoded_as=None)
    assert [p.payload for p in encoded] == [p.payload for p in packets]


async def test_stored_pcmu_on_a_pcma_call_is_transcoded(clock: MediaClock) -> None:
    pcm = tone(0.2, 440)
    packets = await _sniff_play(clock, 8, encode(pcm, 0), encoded_as=0)
    assert {p.payload_type for p in packets} == {8}
    assert snr_db(pcm, decode(b"".join(p.payload for p in packets), 8)) > 30
