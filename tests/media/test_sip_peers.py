"""The dialer's SIP client against third-party user agents: SIPp and baresip.

These binaries are part of the test environment (Debian sip-tester, baresip-core); a missing
one fails the test with the install hint rather than skipping it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from media_helpers import LOOPBACK, free_udp_port, tone
from obzvon.media import MediaClock, RtpSession
from obzvon.media.g711 import rms
from obzvon.media.wav import write_wav_8k
from obzvon.sip import SipTrunk


def need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    assert path, f"{binary} not found: apt-get install {package}"
    return path


@contextlib.asynccontextmanager
async def process(*argv: str, cwd: Path | None = None) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def wait_for_udp_listener(port: int, seconds: float = 5.0) -> None:
    """Poll with OPTIONS until the peer answers (it binds a moment after it starts)."""
    loop = asyncio.get_running_loop()
    got = asyncio.Event()

    class P(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            got.set()

    tr, _ = await loop.create_datagram_endpoint(P, local_addr=(LOOPBACK, 0))
    me = tr.get_extra_info("sockname")[1]
    try:
        end = loop.time() + seconds
        n = 0
        while not got.is_set() and loop.time() < end:
            n += 1
            opts = (
                f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKprobe{n}\r\n"
                f"From: <sip:probe@127.0.0.1:{me}>;tag=p{n}\r\nTo: <sip:probe@127.0.0.1:{port}>\r\n"
                f"Call-ID: probe{n}@127.0.0.1\r\nCSeq: {n} OPTIONS\r\n"
                "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
            tr.sendto(opts.encode(), (LOOPBACK, port))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(got.wait(), 0.2)
    finally:
        tr.close()
    assert got.is_set(), f"nothing answers SIP on 127.0.0.1:{port}"


async def test_sipp_uas_echoes_our_audio(clock: MediaClock) -> None:
    sipp = need("sipp", "sip-tester")
    sip_port = free_udp_port()
    media_port = free_udp_port(4)  # SIPp takes mp and mp+2 (audio, video)
    argv = [sipp, "-sn", "uas", "-rtp_echo", "-i", LOOPBACK, "-p", str(sip_port)]
    argv += ["-mi", LOOPBACK, "-mp", str(media_port), "-m", "1", "-nostdin"]
    async with process(*argv) as proc:
        await asyncio.sleep(0.3)
        assert proc.returncode is None, "sipp exited at start"
        trunk = await SipTrunk.start()
        rtp = await RtpSession.open(clock)
        heard: list[bytes] = []
        rtp.on_frame = heard.append
        try:
            call = await trunk.invite(
                f"sip:echo@127.0.0.1:{sip_port}", from_user="bot", rtp_port=rtp.local_port, ring_timeout_s=5
            )
            assert call.remote_rtp == (LOOPBACK, media_port)
            rtp.connect(call.remote_rtp, call.payload_type)
            assert await rtp.play(tone(1.0, 440))
            await asyncio.sleep(0.3)
            await call.hangup()
        finally:
            await rtp.close()
            await trunk.close()
        # SIPp exits 0 only if the scenario completed: our ACK and BYE reached it and matched.
        rc = await asyncio.wait_for(proc.wait(), 15)
        out = (await proc.stdout.read()).decode(errors="replace") if proc.stdout else ""
    assert rc == 0, out[-1500:]
    voiced = [f for f in heard if rms(f) > 1000]
    assert len(voiced) >= 45, f"echoed {len(voiced)} voiced frames of 50"


async def test_baresip_auto_answers_and_speaks_a_file(tmp_path: Path, clock: MediaClock) -> None:
    baresip = need("baresip", "baresip-core")
    sip_port = free_udp_port()
    rtp_base = free_udp_port(20)
    wav = tmp_path / "speech.wav"
    write_wav_8k(wav, tone(3.0, 350, 6000))
    (tmp_path / "config").write_text(
        "module_path /usr/lib/baresip/modules\n"
        f"sip_listen {LOOPBACK}:{sip_port}\n"
        f"net_interface {LOOPBACK}\n"
        "module g711.so\nmodule aufile.so\nmodule account.so\nmodule menu.so\n"
        f"audio_source aufile,{wav}\n"
        "audio_player aufile,/dev/null\n"
        "ausrc_srate 8000\nauplay_srate 8000\n"
        f"rtp_ports {rtp_base}-{rtp_base + 18}\n"
    )
    (tmp_path / "accounts").write_text(
        f"<sip:callee@{LOOPBACK}:{sip_port}>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n"
    )
    async with process(baresip, "-f", str(tmp_path), "-4") as proc:
        await wait_for_udp_listener(sip_port)
        trunk = await SipTrunk.start()
        rtp = await RtpSession.open(clock)
        heard: list[bytes] = []
        rtp.on_frame = heard.append
        try:
            call = await trunk.invite(
                f"sip:callee@127.0.0.1:{sip_port}", from_user="bot", rtp_port=rtp.local_port, ring_timeout_s=5
            )
            rtp.connect(call.remote_rtp, call.payload_type)
            await asyncio.sleep(1.5)
            await call.hangup()
        finally:
            await rtp.close()
            await trunk.close()
        assert proc.returncode is None, "baresip died during the call"
    voiced = [f for f in heard if rms(f) > 1000]
    assert len(voiced) >= 40, f"heard {len(voiced)} voiced frames in 1.5 s"
