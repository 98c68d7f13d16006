"""`obzvon-asr classify` takes what telephony records: μ-law, A-law, any rate, mono or stereo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from asr_voices import Voice, render
from obzvon_asr.recording import RecordingError, read_recording


def _tone_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.4 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return samples


def _sox(*args: str) -> None:
    subprocess.run(["sox", "-V1", *args], check=True)


@pytest.mark.parametrize("encoding", ["u-law", "a-law", "signed-integer"])
def test_g711_and_pcm_decode_to_the_same_samples(tmp_path: Path, encoding: str) -> None:
    source = _tone_wav(tmp_path / "pcm.wav")
    coded = tmp_path / f"{encoding}.wav"
    _sox(str(tmp_path / "pcm.wav"), "-e", encoding, "-b", "8" if "law" in encoding else "16", str(coded))
    audio = read_recording(coded)
    decoded = np.frombuffer(audio.pcm16, dtype="<i2").astype(np.float64)
    assert audio.sample_rate == 8000 and decoded.size == source.size
    # G.711 keeps ~13 bits: the waveform survives within a few per cent of full scale.
    assert np.max(np.abs(decoded - source)) < 0.03 * 32767


def test_a_stereo_channel_is_chosen(tmp_path: Path) -> None:
    _tone_wav(tmp_path / "tone.wav", rate=16000)
    stereo = tmp_path / "stereo.wav"
    # Left: silence, right: the tone (a recording with callee and robot on their own channels).
    _sox(str(tmp_path / "tone.wav"), str(stereo), "remix", "0", "1")
    energy = {
        channel: float(np.abs(np.frombuffer(read_recording(stereo, channel).pcm16, dtype="<i2")).mean())
        for channel in ("left", "right", "mix")
    }
    assert read_recording(stereo).sample_rate == 16000 and read_recording(stereo).channels_in_file == 2
    assert energy["left"] < 10 < energy["mix"] < energy["right"]


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "no such file"), (b"", "not an audio file"), (b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk", "not an audio")],
)
def test_unreadable_files_name_the_problem(tmp_path: Path, content: bytes | None, says: str) -> None:
    path = tmp_path / "call.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RecordingError, match=says):
        read_recording(path)


def _classify(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OBZVON_ASR_MODELS": "en=tiny.en"}
    return subprocess.run(
        [sys.executable, "-m", "obzvon_asr", "classify", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def test_classify_hears_a_mulaw_stereo_recording(tmp_path: Path, voices: dict[str, Voice]) -> None:
    english = next(voices[n] for n in ("festival-en-slt", "piper-en-joe", "espeak-en-us") if n in voices)
    mono = tmp_path / "yes.wav"
    with wave.open(str(mono), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(render(english, "Yes."))
    # As a PBX writes it: μ-law at 8 kHz, robot silent on the left, callee on the right.
    recording = tmp_path / "call-mulaw.wav"
    _sox(str(mono), "-e", "u-law", "-b", "8", "-c", "2", str(recording), "remix", "0", "1")
    proc = _classify(str(recording), "--lang", "en", "--expect", "yes_no", "--channel", "right")
    assert proc.returncode == 0, proc.stderr
    heard = json.loads(proc.stdout.strip().splitlines()[-1])
    # What the dialog would do, from the rule the dialer uses (obzvon.decisions).
    assert heard["intent"] == "yes" and heard["decision"] == "commit"


def test_classify_refuses_an_unreadable_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    proc = _classify(str(path), "--lang", "en")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "broken.wav" in proc.stderr and "Traceback" not in proc.stderr
