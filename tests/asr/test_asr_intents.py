"""Text -> intent, without a model."""

from __future__ import annotations

import pytest
from obzvon_asr import intents

CASES: list[tuple[str, str, str]] = [
    # Russian
    ("ru", "Да", "yes"),
    ("ru", "да, конечно", "yes"),
    ("ru", "Ага.", "yes"),
    ("ru", "угу", "yes"),
    ("ru", "Конечно!", "yes"),
    ("ru", "Давайте", "yes"),
    ("ru", "хорошо, приду", "yes"),
    ("ru", "Да-да", "yes"),
    ("ru", "Нет", "no"),
    ("ru", "нет, не надо", "no"),
    ("ru", "Не интересно", "no"),
    ("ru", "мне это неинтересно", "no"),
    ("ru", "да нет, не нужно", "no"),
    ("ru", "Я не приду", "no"),
    ("ru", "Не звоните мне больше!", "opt_out"),
    ("ru", "Удалите мой номер", "opt_out"),
    ("ru", "отпишите меня", "opt_out"),
    ("ru", "Отпишитесь от рассылки", "opt_out"),
    ("ru", "да, только больше не звоните", "opt_out"),
    ("ru", "Стоп", "opt_out"),
    ("ru", "хватит мне звонить", "opt_out"),
    ("ru", "Перезвоните вечером", "callback"),
    ("ru", "нет, перезвоните позже", "callback"),
    ("ru", "Сейчас неудобно говорить", "callback"),
    ("ru", "я за рулём", "callback"),
    ("ru", "Соедините с оператором", "operator"),
    ("ru", "можно с живым человеком поговорить", "operator"),
    ("ru", "позовите менеджера", "operator"),
    ("ru", "Не знаю", "other"),
    ("ru", "Я сейчас в магазине стою", "other"),
    ("ru", "Алло, кто это?", "other"),
    ("ru", "", "other"),
    # English
    ("en", "Yes", "yes"),
    ("en", "Yeah.", "yes"),
    ("en", "sure", "yes"),
    ("en", "Yep, I'll be there", "yes"),
    ("en", "Okay", "yes"),
    ("en", "No", "no"),
    ("en", "Nope.", "no"),
    ("en", "No thanks", "no"),
    ("en", "I'm not interested", "no"),
    ("en", "Stop", "opt_out"),
    ("en", "Stop calling me!", "opt_out"),
    ("en", "Please remove my number", "opt_out"),
    ("en", "Don't call me again", "opt_out"),
    ("en", "unsubscribe", "opt_out"),
    ("en", "yes but never call me again", "opt_out"),
    ("en", "Call me back later", "callback"),
    ("en", "Not now, I'm driving", "callback"),
    ("en", "No, call me back tomorrow", "callback"),
    ("en", "Could you try again in an hour?", "callback"),
    ("en", "This isn't a good time.", "callback"),
    ("ru", "Наберите через час.", "callback"),
    ("ru", "Давайте в другой раз.", "callback"),  # «давайте» alone is yes; «в другой раз» asks for later
    ("ru", "Можно с менеджером поговорить?", "operator"),
    ("ru", "Можно?", "other"),  # a question back, not an answer
    ("ru", "Нуда.", "yes"),  # Whisper's spelling of «ну да»
    ("ru", "Не беспокойте меня больше.", "opt_out"),
    ("en", "Transfer me to one of your agents.", "operator"),
    ("en", "Put me on your do not call list.", "opt_out"),
    # Requests recognised by a verb and its object anywhere in the reply (intents.CUES).
    ("en", "Lose my number.", "opt_out"),
    ("en", "Delete my details from your system.", "opt_out"),
    ("en", "I don't want any more of these calls.", "opt_out"),
    ("ru", "Я не хочу, чтобы мне звонили.", "opt_out"),
    ("ru", "Вычеркните мой номер.", "opt_out"),
    ("en", "I'd rather talk to a receptionist.", "operator"),
    ("ru", "Я хочу поговорить с администратором.", "operator"),
    ("ru", "С роботом разговаривать не буду, дайте человека.", "operator"),
    ("en", "Ring me tomorrow afternoon.", "callback"),
    ("ru", "Давайте созвонимся в понедельник.", "callback"),
    ("ru", "Позвоните после обеда.", "callback"),
    ("en", "I don't want to come, call me next week.", "callback"),
    ("en", "Count me in.", "yes"),
    ("en", "No problem.", "yes"),
    ("ru", "Почему бы и нет.", "yes"),
    ("en", "No way.", "no"),
    ("ru", "Ни за что.", "no"),
    ("ru", "Отменяйте запись.", "no"),
    ("en", "Yes, I'll call you if anything changes.", "yes"),
    ("en", "Absolutely not.", "no"),
    ("ru", "Никуда я не пойду.", "no"),
    ("en", "Can I talk to an operator?", "operator"),
    ("en", "I want a real person", "operator"),
    ("en", "I don't know", "other"),
    ("en", "Maybe", "other"),
    ("en", "The weather is nice today", "other"),
    # Mixed: callers switch language for short words.
    ("ru", "окей", "yes"),
    ("ru", "no", "no"),
    ("en", "да", "yes"),
]


@pytest.mark.parametrize(("language", "text", "expected"), CASES)
def test_classify(language: str, text: str, expected: str) -> None:
    assert intents.classify(text, language) == expected


def test_normalize_folds_case_yo_and_punctuation() -> None:
    assert intents.normalize("  Ещё  раз, ПОЗВОНИТЕ!!! ") == "еще раз позвоните"
    assert intents.normalize("Don’t") == "don't"


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        # Whisper's misspellings of telephone audio, seen on the bench set.
        ("ru", "удалитель мой номер.", "opt_out"),
        ("ru", "Хлассит мне. Звонить.", "opt_out"),
        ("ru", "Не интересна.", "no"),
        ("en", "Please remove my umber.", "opt_out"),
        ("en", "and subscribe.", "opt_out"),
        # A negation is never inferred from a near miss.
        ("ru", "Мне нужно.", "other"),
        ("ru", "Я сейчас в магазине стою", "other"),
        ("ru", "Я сейчас в магазине не встаю.", "other"),
        ("en", "I know to know.", "other"),
    ],
)
def test_classify_tolerates_misspelt_long_phrases(language: str, text: str, expected: str) -> None:
    assert intents.classify(text, language) == expected


def test_fuzzy_matching_can_be_turned_off() -> None:
    assert intents.classify("Please remove my umber.", "en", fuzzy=False) == "other"
    assert intents.classify("Please remove my umber.", "en") == "opt_out"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("один два три четыре", "1234"),
        ("двадцать пять", "25"),
        ("Два, пять, семь.", "257"),
        ("12 34", "1234"),
        ("one two three", "123"),
        ("twenty five", "25"),
        ("oh seven", "07"),
        ("ноль девять", "09"),
        ("не знаю", ""),
    ],
)
def test_digits(text: str, expected: str) -> None:
    assert intents.digits(text) == expected


def test_candidates_classify_as_their_own_intent() -> None:
    # The phrasings scored against audio must read as the intent they stand for.
    for language in ("ru", "en"):
        for intent, phrases in intents.candidates(language).items():
            for phrase in phrases:
                assert intents.classify(phrase, language) == intent, phrase


@pytest.mark.parametrize(
    ("language", "text", "intent"),
    [
        ("ru", "Да, конечно.", "yes"),
        ("ru", "да", "yes"),
        ("ru", "Нет, не надо.", "no"),
        ("en", "Yes, sure.", "yes"),
        ("en", "Not now, I'm driving.", "callback"),
        ("en", "Stop. Stop.", "opt_out"),
        # A word outside one intent's phrases leaves the reply to scoring.
        ("ru", "Да, но не завтра", "other"),
        ("ru", "Нет, перезвоните позже", "other"),
        ("en", "No, call me later.", "other"),
        ("en", "I'm not interested.", "other"),
        ("ru", "Не знаю", "other"),
        ("en", "I don't know", "other"),
        ("en", "", "other"),
    ],
)
def test_phrased_takes_only_transcripts_made_of_one_intent(language: str, text: str, intent: str) -> None:
    assert intents.phrased(text, language) == intent
