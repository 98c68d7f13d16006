"""Text -> intent for callee replies, Russian and English. Pure functions, no model.

The same phrase lists feed the engine's closed-question scoring (the `CANDIDATES` phrasings are
scored against the audio) and the classification of free transcripts, so both paths agree on
what counts as "yes".
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Final

from obzvon_asr import tables

YES: Final = "yes"
NO: Final = "no"
OPT_OUT: Final = "opt_out"
CALLBACK: Final = "callback"
OPERATOR: Final = "operator"
OTHER: Final = "other"
INTENTS: Final = (YES, NO, OPT_OUT, CALLBACK, OPERATOR, OTHER)

# Checked in this order: the first intent with a matching phrase wins. Opt-out first because a
# person who says «да, только не звоните мне больше» must be honoured (and it is a legal duty);
# operator and callback before no/yes because «нет, перезвоните позже» asks for a later call,
# not a refusal.
PRIORITY: Final = (OPT_OUT, OPERATOR, CALLBACK, NO, YES)

# Kept as data (data/intents.yaml, read by obzvon_asr.tables): what each table is for is said here.
_TABLES: Final = tables.intent_tables()

# intent -> language -> phrases. A trailing "*" matches any ending (Russian inflection:
# перезвоните/перезвоним/перезвонить).
PHRASES: Final = _TABLES.phrases

# Yes phrasings built from a negation («не вопрос», «почему бы и нет», "no problem"): checked
# before the no phrases, which would otherwise read them as a refusal.
YES_DESPITE_NEGATION: Final = _TABLES.yes_despite_negation

# Requests people word in many ways, recognised by two kinds of word in one reply rather than by
# a fixed phrase: a verb of the request and its object («вычеркните мой номер», "delete my details
# from your system", "ring me tomorrow afternoon", «созвонимся в понедельник»). Each rule is
# (first words, second words); "*" matches any ending. Checked in PRIORITY order after the
# phrases of the same intent.
CUES: Final = _TABLES.cues

# Phrases that cancel a yes/no reading: «не знаю» contains no "no" word but also is no answer.
UNSURE: Final = _TABLES.unsure

# Canonical phrasings scored against the audio for closed questions (language -> intent ->
# phrasings), in the capitalisation Whisper itself writes at the start of a transcript. Kept
# short: each one costs a decoder pass.
CANDIDATES: Final = _TABLES.candidates

_PUNCT = re.compile(r"[^\w\s'*-]+", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower case, ё as е, curly apostrophes straight, punctuation and hyphens as spaces."""
    text = text.lower().replace("ё", "е").replace("’", "'").replace("`", "'")
    text = _PUNCT.sub(" ", text).replace("-", " ").replace("*", " ")
    return _SPACE.sub(" ", text).strip()


def _words(text: str) -> list[str]:
    return normalize(text).split()


def _match_at(words: list[str], start: int, phrase: list[str]) -> bool:
    if start + len(phrase) > len(words):
        return False
    for word, pat in zip(words[start:], phrase, strict=False):
        if pat.endswith("*"):
            if not word.startswith(pat[:-1]):
                return False
        elif word != pat:
            return False
    return True


def contains(words: list[str], phrase: str) -> bool:
    pattern = phrase.lower().replace("ё", "е").split()
    return any(_match_at(words, i, pattern) for i in range(len(words)))


def _phrases(table: dict[str, tuple[str, ...]], language: str | None) -> tuple[str, ...]:
    if language in table:
        # The other language's phrases too: callers mix in "окей", "stop", "no".
        return table[language] + tuple(p for lang, ps in table.items() if lang != language for p in ps)
    return tuple(p for ps in table.values() for p in ps)


# Phrases this long (letters, spaces aside) may also match a transcript approximately: Whisper
# misspells telephone audio («удалитель мой номер», "and subscribe", "Please remove my umber");
# shorter ones («да», "no") would match everything approximately.
FUZZY_MIN_CHARS: Final = 7
FUZZY_RATIO: Final = 0.8


def classify(text: str, language: str | None = None, *, fuzzy: bool = True) -> str:
    """The intent of a reply's transcript: one of INTENTS. Exact phrases first; then, when
    none matched, long phrases approximately (fuzzy=False turns that off)."""
    words = _words(text)
    if not words:
        return OTHER
    unsure = any(contains(words, p) for p in _phrases(UNSURE, language))
    for intent in PRIORITY:
        if unsure and intent in (YES, NO):
            return OTHER
        if intent == NO and any(contains(words, p) for p in YES_DESPITE_NEGATION):
            return YES
        if any(contains(words, p) for p in _phrases(PHRASES[intent], language)):
            return intent
        if any(_cued(words, first, second) for first, second in CUES.get(intent, ())):
            return intent
    if fuzzy:
        negated = bool(NEGATIONS & set(words))
        for intent in PRIORITY:
            # A near miss is never read as yes in a reply that says «не» or "not" anywhere:
            # «Никуда я не пойду» came within the fuzzy ratio of a yes phrase.
            if intent == YES and negated:
                continue
            if any(_near(words, p) for p in _phrases(PHRASES[intent], language)):
                return intent
    return OTHER


def _cued(words: list[str], first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    return any(contains(words, a) for a in first) and any(contains(words, b) for b in second)


def _near(words: list[str], phrase: str) -> bool:
    if "*" in phrase or len(phrase.replace(" ", "")) < FUZZY_MIN_CHARS:
        return False
    pattern = phrase.replace("ё", "е").split()
    target = "".join(pattern)
    # A negation is never inferred: «мне нужно» is one letter from «не нужно» and means the
    # opposite, «я сейчас» is not «не сейчас».
    negations = [w for w in pattern if w in NEGATIONS]
    for width in {max(1, len(pattern) - 1), len(pattern), len(pattern) + 1}:
        for i in range(max(1, len(words) - width + 1)):
            window = words[i : i + width]
            if any(n not in window for n in negations):
                continue
            if SequenceMatcher(None, "".join(window), target).ratio() >= FUZZY_RATIO:
                return True
    return False


NEGATIONS: Final = frozenset({"не", "нет", "ни", "no", "not", "don't", "dont", "never", "nope"})


def candidates(language: str) -> dict[str, tuple[str, ...]]:
    """Phrasings to score for a closed yes/no question in this language."""
    return CANDIDATES.get(language, CANDIDATES["en"])


# Spoken number words -> values, every language together (a transcript may mix them).
_UNITS: Final = _TABLES.units
_TEENS: Final = _TABLES.teens
_TENS: Final = _TABLES.tens


def digits(text: str) -> str:
    """The digit string a caller spoke: «два пять семь» / "twenty five" / "2 5 7" -> "257" / "25".

    Each spoken number becomes its digits in order; a tens word followed by a unit word is one
    number (двадцать пять = 25), as people read codes in pairs."""
    out: list[str] = []
    words = _words(text.replace(",", " ").replace(".", " "))
    i = 0
    while i < len(words):
        word = words[i]
        if word.isdigit():
            out.append(word)
        elif word in _TENS:
            value = _TENS[word]
            if i + 1 < len(words) and words[i + 1] in _UNITS and _UNITS[words[i + 1]] > 0:
                value += _UNITS[words[i + 1]]
                i += 1
            out.append(str(value))
        elif word in _TEENS:
            out.append(str(_TEENS[word]))
        elif word in _UNITS:
            out.append(str(_UNITS[word]))
        i += 1
    return "".join(out)


def phrased(text: str, language: str | None = None) -> str:
    """The intent whose phrases (exact, in `PHRASES`) make up the whole transcript, word for word
    («Да, конечно», "Yes, sure", «Нет, не надо»); OTHER when any word is outside one intent's
    phrases («Да, но не завтра», "No, call me later") or the reply is unsure. The engine takes
    such a transcript, read fluently, as the answer without scoring phrasings against the audio."""
    words = _words(text)
    if not words or any(contains(words, p) for p in _phrases(UNSURE, language)):
        return OTHER
    found = OTHER
    for intent in PRIORITY:
        patterns = [p.lower().replace("ё", "е").split() for p in _phrases(PHRASES[intent], language)]
        covered = [True] + [False] * len(words)  # covered[i]: words[:i] is a run of phrases
        for i in range(len(words)):
            if covered[i]:
                for pattern in patterns:
                    if _match_at(words, i, pattern):
                        covered[i + len(pattern)] = True
        if covered[-1]:
            if found != OTHER:
                return OTHER  # two intents read the same words: leave it to scoring
            found = intent
    return found
