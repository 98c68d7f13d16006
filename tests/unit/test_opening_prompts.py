"""Which prompts a callee hears before the first question: the ones the dialer waits for before INVITE (pure logic)."""

from __future__ import annotations

from obzvon.script import load_script_yaml
from obzvon_dialer.dialog import texts_before_first_question

VARIABLES = {"name": "Анна", "time": "10:30", "doctor": "Петрова"}


def test_say_say_ask_gives_the_three_texts_rendered_in_order() -> None:
    script = load_script_yaml("""
start: hello
nodes:
  hello: {say: "{name}, здравствуйте!", next: remind}
  remind: {say: "Напоминаем о приёме в {time}.", next: confirm}
  confirm: {ask: "Вы придёте к врачу {doctor}?", expect: yes_no, on: {yes: thanks, no: bye}}
  thanks: {say: "Ждём вас, {name}.", next: bye}
  bye: {hangup: "До свидания"}
""")
    assert texts_before_first_question(script, VARIABLES) == [
        "Анна, здравствуйте!",
        "Напоминаем о приёме в 10:30.",
        "Вы придёте к врачу Петрова?",
    ]


def test_a_script_that_starts_with_a_question_gives_only_the_question() -> None:
    script = load_script_yaml("""
start: confirm
nodes:
  confirm: {ask: "{name}, вы придёте в {time}?", expect: yes_no, on: {yes: thanks, no: bye}}
  thanks: {say: "Спасибо!", next: bye}
  bye: {hangup: "До свидания"}
""")
    assert texts_before_first_question(script, VARIABLES) == ["Анна, вы придёте в 10:30?"]


def test_static_texts_on_the_way_are_included() -> None:
    # Rendered at campaign start, but their audio may have expired: the dialer checks them too.
    script = load_script_yaml("""
start: hello
nodes:
  hello: {say: "Клиника напоминает о записи.", next: confirm}
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: bye, no: bye}}
  bye: {hangup: "До свидания, {name}"}
""")
    assert texts_before_first_question(script, VARIABLES) == ["Клиника напоминает о записи.", "Вы придёте?"]


def test_a_text_whose_variable_the_contact_lacks_is_skipped() -> None:
    script = load_script_yaml("""
start: hello
nodes:
  hello: {say: "{name}, здравствуйте!", next: remind}
  remind: {say: "Ваш код {code}.", next: confirm}
  confirm: {ask: "Вы придёте в {time}?", expect: yes_no, on: {yes: bye, no: bye}}
  bye: {hangup: "До свидания"}
""")
    assert texts_before_first_question(script, VARIABLES) == ["Анна, здравствуйте!", "Вы придёте в 10:30?"]
    assert texts_before_first_question(script, {}) == []


def test_a_script_without_questions_ends_at_its_hangup() -> None:
    script = load_script_yaml("""
start: hello
nodes:
  hello: {say: "{name}, ваш приём в {time}.", next: bye}
  bye: {hangup: "До свидания"}
""")
    assert texts_before_first_question(script, VARIABLES) == ["Анна, ваш приём в 10:30.", "До свидания"]


def test_nothing_after_the_first_question_is_taken() -> None:
    script = load_script_yaml("""
start: hello
nodes:
  hello: {say: "Здравствуйте!", next: first}
  first: {ask: "Вы {name}?", expect: yes_no, on: {yes: second, no: bye}}
  second: {ask: "Придёте в {time}?", expect: yes_no, on: {yes: bye, no: bye}}
  bye: {hangup: "До свидания"}
""")
    assert texts_before_first_question(script, VARIABLES) == ["Здравствуйте!", "Вы Анна?"]
