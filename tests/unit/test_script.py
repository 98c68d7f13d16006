"""Script validation: every problem is found and names its field."""

from __future__ import annotations

import pytest
from obzvon.errors import InvalidArgument
from obzvon.script import load_script_yaml, render, script_variables, validate_script

GOOD = """
start: greet
nodes:
  greet: {say: "Здравствуйте, {name}!", next: confirm}
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: thanks, no: bye}, retries: 1}
  thanks: {say: "Спасибо!", tag: confirmed, next: bye}
  bye: {hangup: true}
"""


def fields(yaml_text: str) -> set[str]:
    return {v.field for v in validate_script(load_script_yaml(yaml_text))}


def test_good_script_has_no_problems() -> None:
    script = load_script_yaml(GOOD)
    assert validate_script(script) == []
    assert dict(script.nodes["confirm"].ask.on) == {"yes": "thanks", "no": "bye"}  # YAML's on/yes/no kept as words
    assert script_variables(script) == {"name"}


def test_unknown_start_and_next() -> None:
    assert fields(GOOD.replace("start: greet", "start: hello")) == {"script.start"}
    assert fields(GOOD.replace("next: confirm", "next: confirmm")) == {'script.nodes["greet"].next'}


def test_missing_branch_for_yes_no() -> None:
    assert fields(GOOD.replace("on: {yes: thanks, no: bye}", "on: {yes: thanks}")) == {
        'script.nodes["confirm"].ask.on["no"]'
    }


def test_unreachable_node() -> None:
    assert fields(GOOD + '  orphan: {say: "x", next: bye}\n') == {'script.nodes["orphan"]'}


def test_loop_with_no_exit() -> None:
    looping = """
start: a
nodes:
  a: {say: "one", next: b}
  b: {ask: "again?", expect: yes_no, on: {yes: a, no: a, no_input: a, no_match: a}}
"""
    assert fields(looping) == {'script.nodes["a"]', 'script.nodes["b"]'}


def test_ask_without_fallbacks_can_end_the_call() -> None:
    # Running out of retries hangs up, so this loop has an exit.
    assert (
        fields("""
start: a
nodes:
  a: {ask: "again?", expect: yes_no, on: {yes: a, no: a}}
""")
        == set()
    )


def test_unknown_key_and_bad_expect_are_reported() -> None:
    with pytest.raises(InvalidArgument) as raised:
        load_script_yaml('start: a\nnodes:\n  a: {ask: "q", expect: maybe, colour: red}\n')
    assert {v.field for v in raised.value.violations} == {'script.nodes["a"].colour', 'script.nodes["a"].expect'}


def test_render_requires_every_variable() -> None:
    assert render("Здравствуйте, {name}!", {"name": "Анна"}) == "Здравствуйте, Анна!"
    with pytest.raises(KeyError):
        render("{name} {time}", {"name": "Анна"})


def test_confirm_below_is_a_confidence_on_yes_no_questions_only() -> None:
    ok = """
start: a
nodes:
  a: {ask: "q", expect: yes_no, confirm_below: 0.6, on: {yes: b, no: b}}
  b: {hangup: x}
"""
    assert load_script_yaml(ok).nodes["a"].ask.confirm_below == pytest.approx(0.6)
    assert fields(ok) == set()
    assert fields(ok.replace("0.6", "1.5")) == {'script.nodes["a"].ask.confirm_below'}
    digits = 'start: a\nnodes:\n  a: {ask: "q", expect: digits, digits_length: 4, confirm_below: 0.5, on: {}}\n'
    assert fields(digits) == {'script.nodes["a"].ask.confirm_below'}
    with pytest.raises(InvalidArgument) as raised:
        load_script_yaml(ok.replace("0.6", "often"))
    assert {v.field for v in raised.value.violations} == {'script.nodes["a"].confirm_below'}
