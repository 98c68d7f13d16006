"""Festival's resident workers: the audio text2wave renders, concurrency, hostile text, dead and hung workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from obzvon_tts.engines import FestivalEngine, RenderError, scheme_string, wav_to_pcm8k
from obzvon_tts.service import TtsService
from obzvon_tts.settings import TtsSettings
from pydantic import ValidationError

SECOND = 16000  # bytes of PCM16 at 8 kHz
RU = "msu_ru_nsh_clunits"


def text2wave(text: str, fest_voice: str) -> bytes:
    """The reference: PCM of what `text2wave` (one Festival process per prompt) writes for the text."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        subprocess.run(
            ["text2wave", "-eval", f"(voice_{fest_voice})", "-o", str(out)],
            input=text.encode(),
            check=True,
            capture_output=True,
            timeout=120,
        )
        return wav_to_pcm8k(out.read_bytes())


def english(engine: FestivalEngine) -> tuple[str, str]:
    """The English voice installed (accepted name, Festival voice)."""
    for name, fest_voice in (("slt", "cmu_us_slt_arctic_hts"), ("kal", "kal_diphone")):
        if name in engine.voices():
            return name, fest_voice
    pytest.fail("no English Festival voice: install festvox-us-slt-hts or festvox-kallpc16k")


@pytest.fixture
async def engine() -> AsyncIterator[FestivalEngine]:
    engine = FestivalEngine(workers_per_voice=2, timeout_s=60)
    assert "ru" in engine.voices(), "festvox-ru not installed: run deploy/local/setup.sh"
    try:
        yield engine
    finally:
        await engine.aclose()


async def gone(pid: int, within_s: float = 5.0) -> bool:
    """Whether the process has exited and been reaped (by the event loop's child watcher)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_same_audio_as_text2wave(engine: FestivalEngine) -> None:
    en_voice, en_fest = english(engine)
    cases = [
        # Several sentences: text2wave synthesises each as its own utterance, and so must the worker.
        ("ru", RU, "Здравствуйте, Иван Петрович! Клиника напоминает о приёме завтра. Вы придёте?"),
        ("ru", RU, "Да."),
        ("ru", RU, "Скажите да или нет; или нажмите один или два."),
        (en_voice, en_fest, "Hello, John! Your appointment is tomorrow at ten thirty. Will you come?"),
        (en_voice, en_fest, "Press one."),
    ]
    # One after another on the same workers: nothing left from one render may change the next.
    for voice, fest_voice, text in cases:
        pcm = await engine.render(text, voice)
        assert len(pcm) > SECOND // 4, text
        assert pcm == text2wave(text, fest_voice), f"differs from text2wave: {text}"
    assert len(engine.worker_pids("ru")) == 1  # sequential renders reuse one warm worker


async def test_concurrent_renders_come_back_right(engine: FestivalEngine) -> None:
    texts = [
        "Да.",
        "Нет, спасибо.",
        "Перезвоните завтра.",
        "Здравствуйте, Мария Сергеевна!",
        "Оплатите до первого марта, пожалуйста.",
        "Клиника напоминает о приёме в десять тридцать утра.",
    ]
    expected = await asyncio.gather(*(asyncio.to_thread(text2wave, t, RU) for t in texts))
    got = await asyncio.gather(*(engine.render(t, "ru") for t in texts))
    for text, pcm, ref in zip(texts, got, expected, strict=True):
        assert pcm == ref, f"wrong audio for {text!r}"
    assert len(engine.worker_pids("ru")) == 2


async def test_hostile_text_is_spoken_not_evaluated(engine: FestivalEngine) -> None:
    voice, fest_voice = english(engine)
    before = await engine.render("Hello.", voice)
    pid = engine.worker_pids(voice)
    text = 'He said "stop" \\ then ")(quit)(" and (format t "x") \\" twice; done.'
    pcm = await engine.render(text, voice)
    assert pcm == text2wave(text, fest_voice)
    # Had any of it reached Scheme, (quit) would have ended the worker.
    assert engine.worker_pids(voice) == pid
    assert await engine.render("Hello.", voice) == before
    assert engine.worker_pids(voice) == pid


def test_scheme_string_reads_back_exactly() -> None:
    value = 'a"b\\c\\"d)(quit)(; e\\n "Ж" %s'
    script = f'(format stderr "<%s>\\n" {scheme_string(value)})\n'
    done = subprocess.run(["festival", "--pipe"], input=script.encode(), capture_output=True, timeout=60)
    assert f"<{value}>" in done.stderr.decode(), done.stderr.decode()
    with pytest.raises(ValueError):
        scheme_string("a\0b")


async def test_killed_worker_is_replaced(engine: FestivalEngine) -> None:
    first = await engine.render("Алло, вы меня слышите?", "ru")
    [pid] = engine.worker_pids("ru")
    os.kill(pid, signal.SIGKILL)
    assert await engine.render("Алло, вы меня слышите?", "ru") == first
    [new_pid] = engine.worker_pids("ru")
    assert new_pid != pid


async def test_hung_worker_times_out_and_is_replaced() -> None:
    engine = FestivalEngine(workers_per_voice=1, timeout_s=20)
    try:
        first = await engine.render("Да.", "ru")
        [pid] = engine.worker_pids("ru")
        engine.configure(workers_per_voice=1, timeout_s=1)
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(RenderError, match="took over 1 s"):
            await engine.render("Нет.", "ru")
        assert await gone(pid), "the hung worker was not killed"
        engine.configure(workers_per_voice=1, timeout_s=20)
        assert await engine.render("Да.", "ru") == first
    finally:
        await engine.aclose()


async def test_festival_error_is_a_render_error_and_the_worker_is_replaced(engine: FestivalEngine) -> None:
    ok = await engine.render("Да.", "ru")
    [pid] = engine.worker_pids("ru")
    # Past the engine's Russian cleaning: «» make the voice's letter-to-sound rules raise.
    with pytest.raises(RenderError, match="LTS_Ruleset"):
        await engine._pool(RU).render("«Здоровье»")
    assert await gone(pid)
    assert await engine.render("Да.", "ru") == ok


async def test_close_stops_the_workers(engine: FestivalEngine) -> None:
    await asyncio.gather(engine.render("Да.", "ru"), engine.render("Нет.", "ru"))
    pids = engine.worker_pids("ru")
    assert len(pids) == 2
    await engine.aclose()
    assert engine.worker_pids("ru") == []
    for pid in pids:
        assert await gone(pid, within_s=1)
    assert len(await engine.render("Да.", "ru")) > 0  # a later render starts a new pool


def test_settings_size_the_pool() -> None:
    engine = FestivalEngine()
    settings = TtsSettings(festival_workers=3, festival_timeout_s=12.5)
    TtsService(settings, None, None, None, {"festival": engine})  # type: ignore[arg-type]
    assert (engine.workers_per_voice, engine.timeout_s) == (3, 12.5)
    with pytest.raises(ValidationError):
        TtsSettings(festival_workers=0)
