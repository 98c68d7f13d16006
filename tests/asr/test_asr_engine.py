"""Recognition of synthetic telephone replies (Festival ru, Festival/espeak-ng/Piper en), offline.

One batched recognize() call per language keeps the Whisper work small on a shared 2-core box."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from asr_voices import Voice, available_voices, render
from obzvon_asr.engine import AsrEngine, Recognition, Utterance, _Item, _Path, models_from_env, to_16k

pytestmark = pytest.mark.slow

RU = [
    ("Да.", "yes"),
    ("Да, конечно.", "yes"),
    ("Нет, не надо.", "no"),
    ("Нет.", "no"),
    ("Не звоните мне больше.", "opt_out"),
    ("Удалите мой номер.", "opt_out"),
    ("Перезвоните вечером.", "callback"),
    # A busy moment stated, nothing asked: read as "call me later" (like «я за рулём») or as no
    # answer; never as yes or no (test_non_answer_is_never_yes).
    ("Я сейчас стою в очереди в магазине.", "other|callback"),
]
EN = [
    ("festival-en-slt", "Yes.", "yes"),
    ("piper-en-joe", "Sure.", "yes"),
    ("festival-en-kal", "No thanks.", "no"),
    ("piper-en-joe", "No.", "no"),
    ("espeak-en-us", "Stop calling me.", "opt_out"),
    ("festival-en-slt", "Please remove my number.", "opt_out"),
    ("piper-en-joe", "The weather was lovely this weekend.", "other"),
]


@pytest.fixture(scope="module")
def engine() -> AsrEngine:
    return AsrEngine({"ru": "base", "en": "base"})


@pytest.fixture(scope="module")
def batch(engine: AsrEngine, voices: dict[str, Voice]) -> list[tuple[str, str, Recognition]]:
    utts: list[Utterance] = []
    expected: list[tuple[str, str]] = []
    for text, intent in RU:
        utts.append(Utterance(render(voices["festival-ru-nsh"], text), 8000, "ru", "yes_no"))
        expected.append((text, intent))
    for voice, text, intent in EN:
        if voice not in voices:
            continue
        utts.append(Utterance(render(voices[voice], text), 8000, "en", "yes_no"))
        expected.append((text, intent))
    results = engine.recognize(utts)
    assert len(results) == len(utts)
    return [(text, intent, r) for (text, intent), r in zip(expected, results, strict=True)]


def test_closed_question_intents(batch: list[tuple[str, str, Recognition]]) -> None:
    wrong = [(text, want, r.intent, r.text) for text, want, r in batch if r.intent not in want.split("|")]
    assert not wrong, wrong


def test_non_answer_is_never_yes(batch: list[tuple[str, str, Recognition]]) -> None:
    for text, want, r in batch:
        if "other" in want.split("|"):
            assert r.intent not in ("yes", "no"), (text, r)


def test_results_carry_language_confidence_and_time(batch: list[tuple[str, str, Recognition]]) -> None:
    for _, _, r in batch:
        assert r.language in ("ru", "en")
        assert 0.0 <= r.confidence <= 1.0
        assert r.ms > 0
        assert r.timings["window_frames"] < 3000  # sized to the reply, not padded to 30 s


def test_silence_is_other_with_no_text(engine: AsrEngine) -> None:
    [r] = engine.recognize([Utterance(b"\0\0" * 16000, 8000, "ru", "yes_no")])
    assert (r.text, r.intent, r.confidence) == ("", "other", 0.0)


def test_free_digits_and_choice_answers(engine: AsrEngine, voices: dict[str, Voice]) -> None:
    ru = voices["festival-ru-nsh"]
    free, digits, choice, opt_out = engine.recognize(
        [
            Utterance(render(ru, "Перезвоните мне завтра утром."), 8000, "ru", "free"),
            Utterance(render(ru, "Два, пять, семь."), 8000, "ru", "digits"),
            Utterance(render(ru, "Вечером, пожалуйста."), 8000, "ru", "choice", ("утро", "день", "вечер")),
            Utterance(render(ru, "Не звоните мне больше."), 8000, "ru", "choice", ("утро", "вечер")),
        ]
    )
    assert free.intent == "callback" and "завтра" in free.text.lower()
    # Whisper loops on these digits ("2, 5, 7, 7, 7, 7") unless the loop is caught and redone.
    assert digits.value == "257", digits
    assert digits.decided_by == "digits" and free.decided_by == "transcript"
    assert choice.value == "вечер", choice
    # Whatever the question, an opt-out is heard.
    assert opt_out.intent == "opt_out", opt_out


def test_a_garbled_opt_out_is_scored_as_one_at_open_questions_and_codes(engine: AsrEngine) -> None:
    """Opt-out phrasings are scored at every listening moment: this «Never ring me again» (a
    held_out_v4 reply) is transcribed "Namerueng Liangnan", which no reading of the text finds."""
    voice = next(v for v in available_voices("en", new=True) if v.name == "espeak-en-gb-f")
    pcm = render(voice, "Never ring me again.", tempo=0.93, pitch_cents=160, noise_db=-43.0, seed=189631388)
    free, code = engine.recognize([Utterance(pcm, 8000, "en", "free"), Utterance(pcm, 8000, "en", "digits")])
    for heard in (free, code):
        assert heard.intent == "opt_out" and heard.decided_by == "scoring", heard
    engine.options.opt_out_everywhere = False
    try:
        [unscored] = engine.recognize([Utterance(pcm, 8000, "en", "free")])
    finally:
        engine.options.opt_out_everywhere = True
    assert unscored.intent != "opt_out", unscored  # what the transcript alone gave before


def test_opt_out_phrasings_are_never_pruned(engine: AsrEngine) -> None:
    en = engine._by_language["en"]
    item = _heard("Hello?", "en")
    paths = engine._paths(en, "en", item)
    assert {p.intent for p in paths} == {"yes", "no", "opt_out", "callback", "operator"}
    # A first token that makes every phrasing but "Yes" unlikely: the opt-outs stay anyway.
    item.first_logp = np.full(en.tokenizer.eot + 1, -30.0)
    item.first_logp[en.tokens("Yes")[0]] = -0.1
    kept = engine._prune(en, item, paths)
    assert {p.text for p in kept if p.intent == "opt_out"} == {p.text for p in paths if p.intent == "opt_out"}
    assert len(kept) < len(paths)  # the others were pruned


def test_bad_requests_are_refused(engine: AsrEngine) -> None:
    with pytest.raises(ValueError, match="no model for language"):
        engine.recognize([Utterance(b"\0\0" * 8000, 8000, "de")])
    with pytest.raises(ValueError, match="expect must be"):
        engine.recognize([Utterance(b"\0\0" * 8000, 8000, "ru", "essay")])


def test_clear_reply_is_decided_without_scoring_and_as_scoring_would(
    engine: AsrEngine, voices: dict[str, Voice]
) -> None:
    utt = Utterance(render(voices["festival-ru-nsh"], "Да, конечно."), 8000, "ru", "yes_no")
    [fast] = engine.recognize([utt])
    assert fast.intent == "yes" and set(fast.scores) == {"free"}, fast  # no phrasing was scored
    assert fast.decided_by == "transcript"
    assert fast.timings["score_ms"] < fast.timings["encode_ms"]
    saved = engine.options.fast_accept_logprob
    engine.options.fast_accept_logprob = None
    try:
        [scored] = engine.recognize([utt])
    finally:
        engine.options.fast_accept_logprob = saved
    assert scored.intent == "yes" and "yes" in scored.scores, scored
    assert scored.decided_by == "scoring"  # its confidence is the margin a script's confirm_below reads


def test_phrasings_are_spelled_as_whisper_writes_them(engine: AsrEngine) -> None:
    """The packaged tokenizer.json spells " to" as a bare space plus "to"; Whisper writes one
    token, and a phrasing forced in the other spelling scores ~3 nats a token lower."""
    model = engine._by_language["en"]
    vocab = model.tokenizer.tokenizer
    ids = model.tokens("I want to speak to a person. No, thanks")
    assert vocab.token_to_id("Ġ") not in ids
    assert vocab.token_to_id("Ġto") in ids and vocab.token_to_id("Ġthanks") in ids
    assert model.tokenizer.decode(ids).strip() == "I want to speak to a person. No, thanks"


def _heard(text: str, language: str) -> _Item:
    item = _Item(0, Utterance(b"", 8000, language, "yes_no"), np.zeros(0, dtype=np.float32), 1.0)
    item.text, item.free_tokens = text, [1]
    return item


def test_misheard_request_tails_are_scored_as_the_request(engine: AsrEngine) -> None:
    en, ru = engine._by_language["en"], engine._by_language["ru"]
    tails = engine._tails(en, _heard("I want to speak to a real burden.", "en"), "en")
    assert _Path("operator", "I want to speak to a real person.") in tails
    armor = engine._tails(en, _heard("and then move my armor.", "en"), "en")
    assert _Path("opt_out", "and then remove my number.") in armor
    # No tail on a shared negation alone, none from one-word phrasings, none for what is already read.
    assert engine._tails(ru, _heard("Я сейчас в магазине не стою.", "ru"), "ru") == []
    assert engine._tails(en, _heard("The weather is lovely today.", "en"), "en") == []
    assert engine._tails(en, _heard("Please remove my number.", "en"), "en") == []


def test_english_only_model_refuses_russian() -> None:
    with pytest.raises(ValueError, match="English-only"):
        AsrEngine({"ru": "tiny.en"})


def test_models_from_env() -> None:
    assert models_from_env("ru=base, en=tiny.en") == {"ru": "base", "en": "tiny.en"}
    with pytest.raises(ValueError):
        models_from_env("ru")


def test_resampling_keeps_length_and_level() -> None:
    import numpy as np

    tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 10000).astype("<i2").tobytes()
    out = to_16k(tone, 8000)
    assert out.size == 16000
    assert abs(float(np.abs(out).max()) - 10000 / 32768) < 0.02


BLOCK_NETWORK = """
import os, socket, sys
def refuse(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        raise OSError("network is off in this test: " + event)
sys.addaudithook(refuse)
from obzvon_asr.classify import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_classify_cli_runs_offline_with_hub_switches_forced(voices: dict[str, Voice], tmp_path: Path) -> None:
    """The CLI (same path as the service) loads and answers with the network refused, the hub's
    own offline switch turned off and its endpoint pointing nowhere."""
    wav = tmp_path / "yes.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        # Any English voice: espeak-ng comes with the Debian image when Festival's do not.
        english = next(voices[n] for n in ("festival-en-slt", "piper-en-joe", "espeak-en-us") if n in voices)
        w.writeframes(render(english, "Yes."))
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="0",
        TRANSFORMERS_OFFLINE="0",
        HF_ENDPOINT="http://hub.invalid",
        HF_HOME=str(tmp_path / "hf-home"),
        OBZVON_ASR_MODELS="en=tiny.en",
    )
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_NETWORK, str(wav), "--lang", "en", "--expect", "yes_no"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["intent"] == "yes" and set(out) >= {"text", "intent", "confidence", "ms"}
    assert not (tmp_path / "hf-home").exists()  # nothing was cached from a hub
