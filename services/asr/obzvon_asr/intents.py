"""Text -> intent for callee replies, Russian and English. Pure functions, no model.

The same phrase lists feed the engine's closed-question scoring (the `CANDIDATES` phrasings are
scored against the audio) and the classification of free transcripts, so both paths agree on
what counts as "yes".
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Final

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

# A trailing "*" matches any ending (Russian inflection: перезвоните/перезвоним/перезвонить).
PHRASES: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    OPT_OUT: {
        "ru": (
            "не звоните",
            "не звони",
            "не звонить",
            "больше не звон*",
            "хватит звонить",
            "хватит мне звонить",
            "перестаньте звонить",
            "перестаньте мне звонить",
            "прекратите звонить",
            "прекратите мне звонить",
            "удалите мой номер",
            "удалите номер",
            "удалите меня",
            "удалите мои данные",
            "уберите мой номер",
            "уберите номер",
            "уберите меня",
            "вычеркните меня",
            "исключите меня",
            "исключите мой номер",
            "отпиш*",
            "отписаться",
            "стоп",
            "в черный список",
            "не беспок*",
            "забудьте мой номер",
            "отстаньте",
            "названива*",
        ),
        "en": (
            "stop",
            "stop calling",
            "don't call",
            "dont call",
            "do not call",
            "never call",
            "quit calling",
            "remove my number",
            "remove me",
            "remove my name",
            "delete my number",
            "take me off",
            "take my number off",
            "unsubscribe",
            "opt out",
            "opt me out",
            "do not call list",
            "don't call list",
            "leave me alone",
            "no more calls",
            "don't ever call",
            "quit calling",
            "no more of these calls",
        ),
    },
    OPERATOR: {
        "ru": (
            "оператор*",
            "соедин*",
            "переключите",
            "переведите на",
            "живой человек",
            "живым человеком",
            "с человеком",
            "менеджер*",
            "специалист*",
            "сотрудник*",
            "консультант*",
            "администратор*",
            "регистратур*",
            "дайте человека",
            "позовите человека",
            "с роботом",
        ),
        "en": (
            "operator",
            "agent*",
            "human*",
            "real person",
            "live person",
            "a person",
            "representative",
            "customer service",
            "speak to someone",
            "talk to someone",
            "connect me",
            "transfer me",
            "receptionist",
            "somebody real",
            "not a robot",
            "to a robot",
        ),
    },
    CALLBACK: {
        "ru": (
            "перезвон*",
            "позвоните позже",
            "позвоните попозже",
            "позвоните завтра",
            "позвоните вечером",
            "позвоните потом",
            "позвоните через",
            "позже",
            "попозже",
            "не сейчас",
            "сейчас неудобно",
            "сейчас не могу",
            "неудобно говорить",
            "не могу говорить",
            "не могу сейчас",
            "я за рулем",
            "за рулем",
            "наберите*",
            "через час",
            "через полчаса",
            "через пару часов",
            "в другой раз",
            "в другое время",
            "созвон*",
            "звякн*",
            "не до этого",
            "не до того",
            "на совещании",
            "на встрече",
            "я занят",
            "я занята",
            "занят сейчас",
            "занята сейчас",
        ),
        "en": (
            "call me back",
            "call back",
            "call me later",
            "call later",
            "call again",
            "call me tomorrow",
            "later",
            "not now",
            "bad time",
            "not a good time",
            "i'm busy",
            "im busy",
            "i am busy",
            "i'm driving",
            "im driving",
            "i am driving",
            "another time",
            "try again",
            "try later",
            "try me later",
            "in an hour",
            "isn't a good time",
            "is not a good time",
            "not a great time",
            "call tomorrow",
            "call me in",
            "in a meeting",
            "bad timing",
            "bad moment",
            "ring me",
            "ring back",
            "try me",
            "can't talk",
            "cant talk",
            "cannot talk",
        ),
    },
    NO: {
        "ru": (
            "нет",
            "неа",
            "не надо",
            "не нужно",
            "не интересно",
            "неинтересно",
            "не интересует",
            "не хочу",
            "не приду",
            "не смогу",
            "не буду",
            "отказываюсь",
            "не пойду",
            "не приеду",
            "не подъеду",
            "не сможем",
            "не придем",
            "ни за что",
            "не получится",
            "не выйдет",
            "другие планы",
            "отмен*",
            "откажусь",
            "ни в коем случае",
            "не согласен",
            "не согласна",
            "отмените",
            "отменить",
            "отмена",
            "никак",
            "нельзя",
        ),
        "en": (
            "no",
            "nope",
            "nah",
            "not interested",
            "no thanks",
            "no thank you",
            "i won't",
            "i will not",
            "i wont",
            "i can't make it",
            "i cannot make it",
            "i can't come",
            "cancel*",
            "absolutely not",
            "of course not",
            "certainly not",
            "definitely not",
            "surely not",
            "not at all",
            "not going",
            "unable to",
            "won't make it",
            "no way",
            "not coming",
            "won't be coming",
            "other plans",
            "don't want",
            "do not want",
            "not really",
            "negative",
            "never",
        ),
    },
    YES: {
        "ru": (
            "да",
            "ага",
            "угу",
            "конечно",
            "давайте",
            "давай",
            "хорошо",
            "ладно",
            "согласен",
            "согласна",
            "верно",
            "точно",
            "именно",
            "приду",
            "подтверждаю",
            "ок",
            "окей",
            "разумеется",
            "естественно",
            "нуда",
            "буду",
            "обязательно",
            "непременно",
            "так точно",
            "да да",
            "как штык",
            "подойду",
            "само собой",
            "а как же",
            "еще бы",
            "не вопрос",
            "без проблем",
            "почему бы и нет",
        ),
        "en": (
            "yes",
            "yeah",
            "yep",
            "yup",
            "ya",
            "sure",
            "of course",
            "okay",
            "ok",
            "alright",
            "all right",
            "correct",
            "absolutely",
            "definitely",
            "certainly",
            "i will",
            "i'll be there",
            "sounds good",
            "please do",
            "go ahead",
            "uh huh",
            "affirmative",
            "right",
            "count me in",
            "you bet",
            "for sure",
            "sure thing",
            "works for me",
            "that works",
            "sounds great",
            "i'll come",
            "i will come",
            "i'll be",
            "no problem",
            "why not",
        ),
    },
}

# Yes phrasings built from a negation («не вопрос», «почему бы и нет», "no problem"): checked
# before the no phrases, which would otherwise read them as a refusal.
YES_DESPITE_NEGATION: Final[tuple[str, ...]] = (
    "не вопрос",
    "почему бы и нет",
    "почему бы нет",
    "no problem",
    "why not",
)

# Requests people word in many ways, recognised by two kinds of word in one reply rather than by
# a fixed phrase: a verb of the request and its object («вычеркните мой номер», "delete my details
# from your system", "ring me tomorrow afternoon", «созвонимся в понедельник»). Each rule is
# (first words, second words); "*" matches any ending. Checked in PRIORITY order after the
# phrases of the same intent.
_REMOVE = (
    "удал*",
    "убер*",
    "убр*",
    "вычеркн*",
    "забуд*",
    "сотр*",
    "исключ*",
    "remove",
    "delete",
    "lose",
    "forget",
    "erase",
    "wipe",
    "scratch",
)
_MY_DATA = (
    "номер*",
    "данн*",
    "списк*",
    "список",
    "контакт*",
    "базы",
    "базу",
    "number",
    "details",
    "data",
    "list",
    "contact*",
    "info",
    "information",
    "records",
)
_NOT_WANT = (
    "не хочу",
    "не надо",
    "не нужно",
    "хватит",
    "прекрат*",
    "перестан*",
    "больше не",
    "don't want",
    "do not want",
    "no more",
    "enough",
    "stop",
    "quit",
    "not want",
)
_CALLS = ("звонк*", "звонили", "звонить", "звонят", "calls", "calling", "called")
_TALK = (
    "поговор*",
    "говорить",
    "разговар*",
    "свяж*",
    "соедин*",
    "переключ*",
    "дайте",
    "позовите",
    "talk",
    "speak",
    "speaking",
    "connect",
    "transfer",
    "put me",
)
_PERSON = (
    "человек*",
    "людьми",
    "живой",
    "живым",
    "person",
    "human*",
    "someone",
    "somebody",
    "people",
    "staff",
    "manager",
    "receptionist",
)
_CALL_AGAIN = ("позвон*", "набер*", "набир*", "звякн*", "созвон*", "call", "ring", "try", "phone", "reach")
_WHEN = (
    "завтра",
    "послезавтра",
    "вечер*",
    "утр*",
    "днем",
    "обед*",
    "понедельник*",
    "вторник*",
    "сред*",
    "четверг*",
    "пятниц*",
    "суббот*",
    "воскресен*",
    "недел*",
    "час*",
    "минут*",
    "позже",
    "потом",
    "tomorrow",
    "tonight",
    "later",
    "afternoon",
    "morning",
    "evening",
    "week",
    "weekend",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "hour*",
    "minute*",
)
CUES: Final[dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]] = {
    OPT_OUT: ((_REMOVE, _MY_DATA), (_NOT_WANT, _CALLS)),
    OPERATOR: ((_TALK, _PERSON),),
    CALLBACK: ((_CALL_AGAIN, _WHEN),),
}

# Phrases that cancel a yes/no reading: «не знаю» contains no "no" word but also is no answer.
UNSURE: Final[dict[str, tuple[str, ...]]] = {
    "ru": ("не знаю", "не уверен", "не уверена", "может быть", "возможно", "наверное", "не помню"),
    "en": ("don't know", "dont know", "do not know", "not sure", "maybe", "perhaps", "i guess"),
}

# Canonical phrasings scored against the audio for closed questions, in the capitalisation Whisper
# itself writes at the start of a transcript. Kept short: each one costs a decoder pass.
CANDIDATES: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "ru": {
        YES: ("Да", "Ага", "Угу", "Конечно", "Давайте", "Хорошо", "Ну да"),
        NO: ("Нет", "Не надо", "Не интересно", "Нет, спасибо", "Не нужно"),
        OPT_OUT: ("Не звоните мне больше", "Не звоните", "Удалите мой номер", "Отпишите меня", "Хватит звонить"),
        CALLBACK: ("Перезвоните позже", "Перезвоните", "Сейчас неудобно"),
        OPERATOR: ("Соедините с оператором", "Оператор", "С человеком", "Дайте оператора"),
    },
    "en": {
        YES: ("Yes", "Yeah", "Sure", "Of course", "Okay", "Absolutely"),
        NO: ("No", "Nope", "No, thanks", "Not interested"),
        OPT_OUT: ("Stop calling me", "Stop", "Don't call me again", "Remove my number", "Unsubscribe", "Opt out"),
        CALLBACK: ("Call me back later", "Call me back", "Not now", "Call me tomorrow"),
        OPERATOR: ("Operator", "A real person", "Transfer me"),
    },
}

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


_RU_UNITS: Final = {
    "ноль": 0,
    "нуль": 0,
    "один": 1,
    "одна": 1,
    "одну": 1,
    "раз": 1,
    "два": 2,
    "две": 2,
    "три": 3,
    "четыре": 4,
    "пять": 5,
    "шесть": 6,
    "семь": 7,
    "восемь": 8,
    "девять": 9,
}
_RU_TEENS: Final = {
    "десять": 10,
    "одиннадцать": 11,
    "двенадцать": 12,
    "тринадцать": 13,
    "четырнадцать": 14,
    "пятнадцать": 15,
    "шестнадцать": 16,
    "семнадцать": 17,
    "восемнадцать": 18,
    "девятнадцать": 19,
}
_RU_TENS: Final = {
    "двадцать": 20,
    "тридцать": 30,
    "сорок": 40,
    "пятьдесят": 50,
    "шестьдесят": 60,
    "семьдесят": 70,
    "восемьдесят": 80,
    "девяносто": 90,
}
_EN_UNITS: Final = {
    "zero": 0,
    "oh": 0,
    "o": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_EN_TEENS: Final = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_EN_TENS: Final = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_UNITS: Final = {**_RU_UNITS, **_EN_UNITS}
_TEENS: Final = {**_RU_TEENS, **_EN_TEENS}
_TENS: Final = {**_RU_TENS, **_EN_TENS}


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
