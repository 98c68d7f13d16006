"""Numbers, dates, times and money read as a person says them (ru, en)."""

from __future__ import annotations

import pytest
from obzvon_tts.normalize import normalize


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Приём завтра в 10:30.", "Приём завтра в десять тридцать."),
        ("в 9:00", "в девять ноль-ноль"),
        ("в 21:01 или 12:22", "в двадцать один ноль одна или двенадцать двадцать две"),
        ("Долг 1500 руб.", "Долг тысяча пятьсот рублей."),
        ("Оплатите до 1500 руб. Спасибо", "Оплатите до тысячи пятисот рублей. Спасибо"),
        ("Сумма 1 500,50 ₽", "Сумма тысяча пятьсот рублей пятьдесят копеек"),
        ("21 руб., 2 руб., 11 руб.", "двадцать один рубль, два рубля, одиннадцать рублей."),
        ("к 5 рублям", "к пяти рублям"),
        ("$20", "двадцать долларов"),
        ("Визит 25.12.2026", "Визит двадцать пятого декабря две тысячи двадцать шестого года"),
        ("Перенесли на 25.12.2026.", "Перенесли на двадцать пятое декабря две тысячи двадцать шестого года."),
        ("до 01.03", "до первого марта"),
        ("2026-01-02", "второго января две тысячи двадцать шестого года"),
        ("Скидка 15%", "Скидка пятнадцать процентов"),
        ("Клиника «Здоровье» — рядом", "Клиника Здоровье, рядом"),
        (
            "Звоните +7 495 000-12-34",
            "Звоните плюс семь, четыреста девяносто пять, ноль ноль ноль, двенадцать, тридцать четыре",
        ),
        ("1000000 звёзд, 3 дня", "миллион звёзд, три дня"),
    ],
)
def test_russian(text: str, spoken: str) -> None:
    assert normalize(text, "ru") == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Your visit is at 10:30.", "Your visit is at ten thirty."),
        ("at 9:05 pm", "at nine oh five p m"),
        ("at 3:00", "at three o'clock"),
        ("You owe $1,500.50 now.", "You owe one thousand five hundred dollars and fifty cents now."),
        ("1 dollar, 1500 rub", "one dollar, one thousand five hundred rubles"),
        ("on 25.12.2026", "on December twenty-fifth, twenty twenty-six"),
        ("by 12/25/2026", "by December twenty-fifth, twenty twenty-six"),
        ("the 21st, 15%, 3.5 hours", "the twenty-first, fifteen percent, three point five hours"),
        ("Call +1 555 010 0000", "Call plus one, five five five, oh one oh, oh oh oh oh"),
    ],
)
def test_english(text: str, spoken: str) -> None:
    assert normalize(text, "en-US") == spoken


def test_impossible_dates_stay_as_written() -> None:
    assert "декабр" not in normalize("40.13.2026", "ru")
    assert "December" not in normalize("40.13.2026", "en")


def test_unknown_language_only_loses_quotes() -> None:
    assert normalize("«Hallo» 10:30", "de") == "Hallo 10:30"
