"""The accuracy set of bench/asr_accuracy.py: its parts stay what docs/asr.md says they are.

No Whisper here: items are listed (every voice of asr_voices.VOICES taken as installed), and only
the renderers added for held_out_v2 are run, each once and only where installed."""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import asr_voices
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import asr_accuracy


@pytest.fixture
def every_voice(monkeypatch: pytest.MonkeyPatch) -> None:
    def listed(language: str | None = None, *, new: bool = False, rejected: bool = False) -> list[asr_voices.Voice]:
        pool = asr_voices.ORIGINAL_VOICES + (asr_voices.NEW_VOICES if new else ())
        pool += asr_voices.REJECTED if rejected else ()
        return [v for v in pool if language is None or v.language == language]

    monkeypatch.setattr(asr_voices, "available_voices", listed)


@pytest.mark.usefixtures("every_voice")
def test_tuning_and_held_out_v1_are_the_original_171() -> None:
    items = asr_accuracy.v1_items()
    assert Counter((i.set, i.language) for i in items) == {
        ("tuning", "ru"): 26,
        ("tuning", "en"): 54,
        ("held_out_v1", "ru"): 30,
        ("held_out_v1", "en"): 61,
    }
    assert {i.voice.name for i in items} == set(asr_accuracy.TUNING_VOICES)
    assert {v.name for v in asr_voices.ORIGINAL_VOICES} == set(asr_accuracy.TUNING_VOICES)


@pytest.mark.usefixtures("every_voice")
def test_held_out_v2_is_new_phrasings_everywhere_and_old_ones_on_new_voices_only() -> None:
    items = asr_accuracy.v2_items()
    assert len(items) == 593
    old = {text for phrases in asr_accuracy.PHRASES.values() for text, _ in phrases}
    new = {text for phrases in asr_accuracy.NEW_PHRASES.values() for text, _ in phrases}
    assert not old & new
    for i in items:
        assert (i.text in new) == (i.part == "new_text")
        if i.part == "old_text":
            assert i.voice.name not in asr_accuracy.TUNING_VOICES
    # No reply of held_out_v2 is one of the original set's (same voice, text and condition).
    assert not _renderings(asr_accuracy.v1_items()) & _renderings(items)


@pytest.mark.usefixtures("every_voice")
def test_held_out_v3_is_its_own_phrasings_on_every_voice_in_conditions_v2_never_had() -> None:
    items = asr_accuracy.v3_items()
    assert len(items) == 384  # ru: 24 x 3 voices x 2 conditions; en: 24 x 10 voices x 1
    assert Counter(i.language for i in items) == {"ru": 144, "en": 240}
    assert {i.set for i in items} == {"held_out_v3"} and {i.part for i in items} == {"new_text"}
    assert {i.voice.name for i in items} == {v.name for v in asr_voices.VOICES}
    earlier = {
        text
        for lists in (asr_accuracy.PHRASES, asr_accuracy.NEW_PHRASES)
        for phrases in lists.values()
        for text, _ in phrases
    }
    v3 = {(language, text) for language, phrases in asr_accuracy.V3_PHRASES.items() for text, _ in phrases}
    assert len(v3) == 48 and not earlier & {text for _, text in v3}
    assert {(i.language, i.text) for i in items} == v3
    assert not set(asr_accuracy.V3_VARIANTS) & set(asr_accuracy.V2_VARIANTS + asr_accuracy.VARIANTS)
    # No reply is one of v1's or v2's (same voice, text and condition), and every voice meets
    # several conditions.
    assert not _renderings(items) & _renderings(asr_accuracy.v1_items() + asr_accuracy.v2_items())
    for voice in asr_voices.VOICES:
        assert len({(i.tempo, i.pitch, i.noise) for i in items if i.voice == voice}) >= 4, voice.name
    assert Counter(i.set for i in asr_accuracy.set_items("all"))["held_out_v3"] == 384


def _renderings(items: list[asr_accuracy.Item]) -> set[tuple[str, str, float, int, float | None]]:
    """What makes one rendering: voice, sentence and condition."""
    return {(i.voice.name, i.text, i.tempo, i.pitch, i.noise) for i in items}


def _plain(text: str) -> str:
    """A phrasing without case, punctuation and spacing: "Да, конечно." and "да конечно" are one."""
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower().replace("ё", "е")).split())


@pytest.mark.usefixtures("every_voice")
def test_held_out_v4_is_its_own_phrasings_on_every_voice_in_conditions_no_earlier_set_had() -> None:
    items = asr_accuracy.v4_items()
    assert len(items) == 384  # ru: 24 x 3 voices x 2 conditions; en: 24 x 10 voices x 1
    assert Counter(i.language for i in items) == {"ru": 144, "en": 240}
    assert {i.set for i in items} == {"held_out_v4"} and {i.part for i in items} == {"new_text"}
    assert {i.voice.name for i in items} == {v.name for v in asr_voices.VOICES}
    earlier = {
        _plain(text)
        for lists in (asr_accuracy.PHRASES, asr_accuracy.NEW_PHRASES, asr_accuracy.V3_PHRASES)
        for phrases in lists.values()
        for text, _ in phrases
    }
    v4 = {(language, text) for language, phrases in asr_accuracy.V4_PHRASES.items() for text, _ in phrases}
    assert len(v4) == 48 and len({_plain(text) for _, text in v4}) == 48
    assert not earlier & {_plain(text) for _, text in v4}
    assert {(i.language, i.text) for i in items} == v4
    older = asr_accuracy.VARIANTS + asr_accuracy.V2_VARIANTS + asr_accuracy.V3_VARIANTS
    assert len(set(asr_accuracy.V4_VARIANTS)) == 6 and not set(asr_accuracy.V4_VARIANTS) & set(older)
    # No reply is one of v1's, v2's or v3's (same voice, text and condition), and every voice
    # meets several conditions.
    before = asr_accuracy.v1_items() + asr_accuracy.v2_items() + asr_accuracy.v3_items()
    assert not _renderings(items) & _renderings(before)
    for voice in asr_voices.VOICES:
        assert len({(i.tempo, i.pitch, i.noise) for i in items if i.voice == voice}) >= 4, voice.name
    assert Counter(i.set for i in asr_accuracy.set_items("all"))["held_out_v4"] == 384
    assert Counter(i.set for i in asr_accuracy.set_items("held_out_v4")) == {"held_out_v4": 384}


@pytest.mark.usefixtures("every_voice")
def test_held_out_v4_splits_give_its_new_voices_part() -> None:
    names = Counter(name for i in asr_accuracy.v4_items() for name in asr_accuracy.split_names(i))
    # Not on a new voice: festival-ru-nsh (24 x 2 conditions) and the five English tuning voices (24 x 5).
    assert names == {"held_out_v4": 384, "held_out_v4/new_text": 384, "held_out_v4/new_text_new_voice": 216}


def test_new_phrasings_cover_every_intent_in_both_languages() -> None:
    for language, phrases in asr_accuracy.NEW_PHRASES.items():
        counts = Counter(intent for _, intent in phrases)
        assert set(counts) == {"yes", "no", "opt_out", "callback", "operator", "other"}, language
        assert min(counts.values()) >= 2, (language, counts)
    for language, phrases in asr_accuracy.V3_PHRASES.items():
        assert len(phrases) == 24, language
        counts = Counter(intent for _, intent in phrases)
        assert set(counts) == {"yes", "no", "opt_out", "callback", "operator", "other"}, language
        assert min(counts.values()) >= 3, (language, counts)
    for language, phrases in asr_accuracy.V4_PHRASES.items():
        counts = Counter(intent for _, intent in phrases)
        assert counts == dict.fromkeys(("yes", "no", "opt_out", "callback", "operator", "other"), 4), language


def test_other_benches_and_tests_see_only_the_original_voices_unless_asked() -> None:
    names = {v.name for v in asr_voices.available_voices()}
    assert names <= set(asr_accuracy.TUNING_VOICES)


def test_russian_is_never_judged_on_a_voice_whisper_cannot_understand() -> None:
    russian = [v for v in asr_voices.VOICES if v.language == "ru"]
    assert all(v.kind == "festival" for v in russian)
    assert not {v.name for v in asr_voices.VOICES} & {v.name for v in asr_voices.REJECTED}


def test_cache_keys_of_the_original_voices_did_not_move() -> None:
    # Renderings under .local/asr-set/ were keyed on Voice's repr before pitch_cents/tempo existed.
    nsh = next(v for v in asr_voices.VOICES if v.name == "festival-ru-nsh")
    assert asr_voices._cache_id(nsh) == (
        "Voice(name='festival-ru-nsh', language='ru', kind='festival', arg='voice_msu_ru_nsh_clunits')"
    )
    hi = next(v for v in asr_voices.VOICES if v.name == "festival-ru-nsh-pseudo-hi")
    assert hi.pseudo and "pitch_cents=400" in asr_voices._cache_id(hi)


# The rejected ru_tts voice is not a dependency (its figures are in docs/asr.md), so not checked here.
@pytest.mark.parametrize("name", ["flite-en-slt", "festival-en-ked"])
def test_added_renderers_make_telephone_audio(name: str) -> None:
    voice = next(v for v in asr_voices.VOICES if v.name == name)
    assert asr_voices._available(voice), f"{name} is not installed: run deploy/local/setup.sh"
    text = "Да, конечно." if voice.language == "ru" else "Yes, of course."
    pcm = asr_voices.telephone(voice, text)
    assert 0.8 * asr_voices.RATE * 2 < len(pcm) < 5 * asr_voices.RATE * 2  # 0.8-5 s of PCM16 at 8 kHz


def _reply(item_intent: str, text: str = "Да.") -> asr_accuracy.Item:
    voice = asr_voices.ORIGINAL_VOICES[0]
    return asr_accuracy.Item("held_out_v5", "new_text", "ru", voice, text, item_intent, 1.0, 0, None, 0)


def _heard(intent: str, confidence: float, decided_by: str, text: str = "Да.") -> asr_accuracy.Recognition:
    return asr_accuracy.Recognition(text, intent, confidence, "ru", 1.0, decided_by=decided_by)


def test_the_bench_counts_what_callers_feel_with_the_dialers_rule() -> None:
    tally = asr_accuracy.Tally()
    replies = [
        ("yes", _heard("yes", 0.9, "scoring")),  # right, acted on
        ("no", _heard("yes", 0.95, "scoring")),  # a wrong yes acted on: a wrong commit
        ("no", _heard("yes", 0.5, "scoring")),  # a wrong yes, but confirmed first: no commit
        ("callback", _heard("no", 0.99, "transcript")),  # a "no" the callee did not mean
        ("opt_out", _heard("opt_out", 0.3, "scoring")),  # heard, honoured
        ("opt_out", _heard("no", 0.9, "transcript")),  # missed: also a wrong commit
        ("other", _heard("opt_out", 0.8, "scoring")),  # a false alarm
        ("other", _heard("other", 0.8, "scoring")),  # asked again
    ]
    for want, heard in replies:
        tally.add(_reply(want), heard, asr_accuracy.decision_for(heard, "yes_no", 0.6))
    got = tally.summary()
    assert got["n"] == 8 and got["intent_accuracy"] == 0.375
    assert got["wrong_commits"] == 3 and got["wrong_commit_rate"] == 0.375
    assert got["wrong_commits_by_kind"] == {"callback->no": 1, "no->yes": 1, "opt_out->no": 1}
    assert got["opt_out_recall"] == 0.5 and got["opt_out_false_alarm_rate"] == round(1 / 6, 4)
    assert got["decided_first_ask"] == 0.75 and got["confirm_rate"] == 0.125
    assert got["wer"] == 0.0


# sha256 of the reply sets as Python literals, before they moved to bench/data/asr_replies.yaml
# (issue 15; compared field by field, types included, before the literals were deleted): the sets
# the figures of docs/asr.md were measured on. A blind set is never edited to fit the recogniser.
REPLY_SETS_DIGEST = "052cf5f5d412abcad3ff8855833b6e27cc7dc29a4878e2cbac21fb011001542a"


def test_reply_sets_loaded_from_data_are_the_measured_ones() -> None:
    names = ["PHRASES", "VARIANTS", "NEW_PHRASES", "V2_VARIANTS"]
    names += [f"V{k}_{kind}" for k in range(3, 8) for kind in ("PHRASES", "VARIANTS")]
    names += ["TUNING_VOICES", "PROBE"]
    loaded = {name: getattr(asr_accuracy, name) for name in names}
    digest = hashlib.sha256(json.dumps(loaded, ensure_ascii=False).encode()).hexdigest()
    assert digest == REPLY_SETS_DIGEST
    assert all(isinstance(pair, tuple) for pairs in asr_accuracy.V7_PHRASES.values() for pair in pairs)
    assert all(isinstance(condition[0], float) for condition in asr_accuracy.V7_VARIANTS)
