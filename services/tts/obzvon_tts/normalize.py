"""Text normalisation before synthesis: numbers, dates, times, money and phone numbers as words.

Engines read digits badly or not at all (Festival's Russian voice fails the whole prompt on a digit
or a «quote»), and a callee must hear "в десять тридцать", not "в десять двоеточие тридцать".
Number words come from num2words (ru, en); the grammar around them (which case a preposition
governs, рубль / рубля / рублей) is done here because num2words' currency mode reads 1500 as
kopecks and has no notion of the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from num2words import num2words

# Russian case a preposition governs for a following number (num2words' case names).
_RU_PREP_CASE: dict[str, str] = {
    **dict.fromkeys(("до", "с", "со", "от", "после", "около", "из", "для", "без", "у", "кроме", "свыше"), "genitive"),
    **dict.fromkeys(("к", "ко", "по"), "dative"),
    **dict.fromkeys(("на", "за", "про", "через", "в", "во"), "accusative"),
    **dict.fromkeys(("о", "об", "при"), "prepositional"),
}

# noun -> forms: nominative singular, genitive singular, genitive plural, then (dative, prepositional)
# singular and plural; these are the only forms a number in the cases above can demand.
_RU_NOUNS: dict[str, tuple[str, str, str, tuple[str, str], tuple[str, str]]] = {
    "рубль": ("рубль", "рубля", "рублей", ("рублю", "рублям"), ("рубле", "рублях")),
    "копейка": ("копейка", "копейки", "копеек", ("копейке", "копейкам"), ("копейке", "копейках")),
    "доллар": ("доллар", "доллара", "долларов", ("доллару", "долларам"), ("долларе", "долларах")),
    "цент": ("цент", "цента", "центов", ("центу", "центам"), ("центе", "центах")),
    "евро": ("евро", "евро", "евро", ("евро", "евро"), ("евро", "евро")),
    "процент": ("процент", "процента", "процентов", ("проценту", "процентам"), ("проценте", "процентах")),
}
_RU_FEMININE = {"копейка"}

_RU_MONTHS_GEN = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# (major unit, minor unit) per currency, by language.
_CURRENCY = {
    "ru": {"RUB": ("рубль", "копейка"), "USD": ("доллар", "цент"), "EUR": ("евро", "цент")},
    "en": {"RUB": ("ruble", "kopeck"), "USD": ("dollar", "cent"), "EUR": ("euro", "cent")},
}
_CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "₽": "RUB"}

_EN_DIGITS = ("oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

_QUOTES = re.compile(r"[«»“”„\"‘’‚`]")
_DASHES = re.compile(r"\s+[—–-]\s+")
_PHONE = re.compile(r"(?<![\w+])\+\d[\d\-\s()]{6,}\d(?!\w)")
_DATE_DMY = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})(?!\.?\d)")
_DATE_ISO = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
_DATE_US = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4})(?![\d/])")
_DATE_DM_RU = re.compile(r"(?<![\d.,])(\d{1,2})\.(\d{2})(?![.,]?\d)")
_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])(\s*[ap]\.?m\.?\b)?", re.IGNORECASE)
# Thousands grouped by spaces (ru) or commas (en) are one number; decimals by comma (ru) or dot (en).
_NUM = {
    "ru": r"\d{1,3}(?:[  ]\d{3})+(?:,\d+)?|\d+(?:,\d+)?",
    "en": r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?",
}
_SIGN_AMOUNT = {lang: re.compile(rf"([$€₽])\s?({num})") for lang, num in _NUM.items()}
_AMOUNT_UNIT = {
    lang: re.compile(
        rf"(?<![\w.,])({num})\s?(рубл[а-яё]*|доллар[а-яё]*|евро|руб\.?(?![а-яё])|р\.|долл\.?(?![а-яё])|rub\b"
        r"|rur\b|usd\b|eur\b|euros?\b|dollars?\b|roubles?\b|rubles?\b|[$€₽])(?:\s?(\d{1,2})\s?(?:коп\.?|копе[а-я]*|cents?\b))?",
        re.IGNORECASE,
    )
    for lang, num in _NUM.items()
}
_PERCENT = {lang: re.compile(rf"(?<![\w.,])({num})\s?%") for lang, num in _NUM.items()}
_EN_ORDINAL = re.compile(r"(?<![\w.,])(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_NUMBER = {lang: re.compile(rf"(?<![\w.,])({num})(?![\w])") for lang, num in _NUM.items()}
_PREV_WORD = re.compile(r"(\w+)\s*$")


def normalize(text: str, language: str) -> str:
    """Text a synthesiser reads naturally: every number, date, time and amount spelled out.

    Unknown languages pass through unchanged except for quotes; the engine reads them as it can."""
    lang = "ru" if language.lower().startswith("ru") else "en" if language.lower().startswith("en") else ""
    text = _QUOTES.sub("", text)
    text = _DASHES.sub(", ", text)
    text = text.replace("№", " номер " if lang == "ru" else " number ")
    if not lang:
        return text
    steps: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
        (_PHONE, lambda m: _phone(m, lang)),
        (_DATE_ISO, lambda m: _date(m, lang, int(m[3]), int(m[2]), int(m[1]))),
        (_DATE_DMY, lambda m: _date(m, lang, int(m[1]), int(m[2]), int(m[3]))),
    ]
    if lang == "en":
        steps.append((_DATE_US, lambda m: _date(m, lang, int(m[2]), int(m[1]), int(m[3]))))
    else:
        steps.append((_DATE_DM_RU, lambda m: _date(m, lang, int(m[1]), int(m[2]), None)))
    steps += [
        (_TIME, lambda m: _time(m, lang)),
        (_SIGN_AMOUNT[lang], lambda m: _money(m, lang, m[2], _CURRENCY_SIGNS[m[1]], None)),
        (_AMOUNT_UNIT[lang], lambda m: _money(m, lang, m[1], _unit_code(m[2]), m[3]) + _kept_stop(m, 2)),
        (_PERCENT[lang], lambda m: _percent(m, lang)),
    ]
    if lang == "en":
        steps.append((_EN_ORDINAL, lambda m: num2words(int(m[1]), lang="en", to="ordinal")))
    steps.append((_NUMBER[lang], lambda m: _number(m, lang)))
    for pattern, fn in steps:
        text = pattern.sub(fn, text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _kept_stop(m: re.Match[str], group: int) -> str:
    """The abbreviation's dot, when it also ended the sentence ("1500 руб. Итого" keeps its pause)."""
    if m[group] is None or not m[group].endswith(".") or m.end() != m.end(group):
        return ""
    rest = m.string[m.end() :].lstrip()
    return "." if not rest or rest[0].isupper() else ""


def _unit_code(unit: str) -> str:
    u = unit.lower()
    if u.startswith(("руб", "р", "rub", "rou", "rur", "₽")):
        return "RUB"
    if u.startswith(("дол", "usd", "dol", "$")):
        return "USD"
    return "EUR"


def _case_before(m: re.Match[str]) -> str:
    prev = _PREV_WORD.search(m.string, 0, m.start())
    return _RU_PREP_CASE.get(prev[1].lower(), "nominative") if prev else "nominative"


def _ru_cardinal(n: int, case: str = "nominative", gender: str = "m") -> str:
    words: str = num2words(n, lang="ru", case=case, gender=gender)
    # "одна тысяча пятьсот" is what a form says; a person says "тысяча пятьсот".
    return re.sub(r"^(?:одна|одной|одну|один|одного|одному|одном) (тысяч\w*|миллион\w*|миллиард\w*)", r"\1", words)


def _ru_noun(noun: str, n: int, case: str) -> str:
    nom, gen_sg, gen_pl, dat, prep = _RU_NOUNS[noun]
    one = n % 10 == 1 and n % 100 != 11
    if case in ("nominative", "accusative"):
        if one:
            return nom
        return gen_sg if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else gen_pl
    if case == "genitive":
        return gen_sg if one else gen_pl
    forms = dat if case == "dative" else prep
    return forms[0] if one else forms[1]


def _ru_count(n: int, noun: str, case: str) -> str:
    gender = "f" if noun in _RU_FEMININE else "m"
    return f"{_ru_cardinal(n, case, gender)} {_ru_noun(noun, n, case)}"


def _en_count(n: int, noun: str) -> str:
    words: str = num2words(n, lang="en")
    plural = noun if n == 1 else noun + "s"
    return f"{words.replace(',', '')} {plural}"


def _split_amount(amount: str, lang: str) -> tuple[int, int | None]:
    """Integer part and, when written, the fractional part as hundredths."""
    sep = "," if lang == "ru" else "."
    digits = amount.replace(" ", "").replace(" ", "")
    if lang == "en":
        digits = digits.replace(",", "")
    whole, _, frac = digits.partition(sep)
    return int(whole), (int((frac + "0")[:2]) if frac else None)


def _money(m: re.Match[str], lang: str, amount: str, currency: str, minor_written: str | None) -> str:
    whole, minor = _split_amount(amount, lang)
    if minor_written:
        minor = int(minor_written)
    major_noun, minor_noun = _CURRENCY[lang][currency]
    if lang == "ru":
        case = _case_before(m)
        out = _ru_count(whole, major_noun, case)
        if minor:
            out += " " + _ru_count(minor, minor_noun, case)
        return out
    out = _en_count(whole, major_noun)
    if minor:
        out += " and " + _en_count(minor, minor_noun)
    return out


def _percent(m: re.Match[str], lang: str) -> str:
    amount = m[1]
    if lang == "ru":
        case = _case_before(m)
        if "," in amount:
            return f"{num2words(float(amount.replace(' ', '').replace(',', '.')), lang='ru')} процента"
        return _ru_count(int(amount.replace(" ", "").replace(" ", "")), "процент", case)
    return f"{_plain_en(amount)} percent"


def _plain_en(amount: str) -> str:
    value = amount.replace(",", "")
    words: str = num2words(float(value) if "." in value else int(value), lang="en")
    return words.replace(",", "")


def _number(m: re.Match[str], lang: str) -> str:
    amount = m[1]
    if lang == "en":
        return _plain_en(amount)
    digits = amount.replace(" ", "").replace(" ", "")
    if "," in digits:
        words: str = num2words(float(digits.replace(",", ".")), lang="ru")
        return words
    return _ru_cardinal(int(digits), _case_before(m))


def _time(m: re.Match[str], lang: str) -> str:
    hours, minutes = int(m[1]), int(m[2])
    if lang == "ru":
        # Minutes agree with "минута" (feminine): "десять двадцать одна".
        h = _ru_cardinal(hours, "nominative") if hours else "ноль"
        if minutes == 0:
            mins = "ноль-ноль"
        elif minutes < 10:
            mins = "ноль " + _ru_cardinal(minutes, "nominative", "f")
        else:
            mins = _ru_cardinal(minutes, "nominative", "f")
        return f"{h} {mins}"
    suffix = ""
    if m[3]:
        suffix = " p m" if "p" in m[3].lower() else " a m"
    h_words: str = num2words(hours, lang="en") if hours else "zero"
    if minutes == 0:
        return f"{h_words} o'clock{suffix}" if not suffix else f"{h_words}{suffix}"
    m_words: str = num2words(minutes, lang="en")
    return f"{h_words} {'oh ' if minutes < 10 else ''}{m_words}{suffix}"


def _date(m: re.Match[str], lang: str, day: int, month: int, year: int | None) -> str:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m[0]
    if lang == "ru":
        # A bare date in a sentence is genitive ("приём двадцать пятого декабря"); "на" wants the
        # accusative, which for the neuter "число" is the nominative ("на двадцать пятое декабря").
        case = _case_before(m)
        case = "nominative" if case == "accusative" else "genitive" if case == "nominative" else case
        words = f"{num2words(day, lang='ru', to='ordinal', case=case, gender='n')} {_RU_MONTHS_GEN[month - 1]}"
        if year is not None:
            words += f" {_ru_year(year)} года"
        return words
    words = f"{_EN_MONTHS[month - 1]} {num2words(day, lang='en', to='ordinal')}"
    if year is not None:
        words += f", {num2words(year, lang='en', to='year')}"
    return words


def _ru_year(year: int) -> str:
    words: str = num2words(year, lang="ru", to="ordinal", case="genitive")
    return words


def _phone(m: re.Match[str], lang: str) -> str:
    """Digit groups as written, each read as a number; a leading zero is read as "ноль"."""
    groups = re.findall(r"\d+", m[0])
    said: list[str] = ["плюс" if lang == "ru" else "plus"]
    for g in groups:
        lead = len(g) - len(g.lstrip("0"))
        zero = "ноль" if lang == "ru" else "oh"
        parts = [zero] * (lead if g.strip("0") else len(g))
        if lang == "en":
            # An English speaker reads a phone number digit by digit.
            parts = [_EN_DIGITS[int(d)] for d in g]
        elif g.strip("0"):
            parts.append(_ru_cardinal(int(g)))
        said.append(" ".join(parts))
    return f"{said[0]} {', '.join(said[1:])}"
