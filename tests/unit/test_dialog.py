"""The dialog engine over a scripted channel (pure logic: no media)."""

from __future__ import annotations

from obzvon.script import load_script_yaml
from obzvon.v1 import scripts_pb2
from obzvon_dialer.dialog import CalleeHungUp, Reply, run_dialog

SCRIPT = load_script_yaml("""
start: greet
nodes:
  greet: {say: "Здравствуйте, {name}!", next: confirm}
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: thanks, no: bye, no_input: bye}, retries: 1}
  thanks: {say: "Спасибо!", tag: confirmed, set: {visit: confirmed}, next: bye}
  bye: {hangup: "До свидания"}
""")


class FakeChannel:
    def __init__(self, replies: list[Reply | Exception]) -> None:
        self.replies = replies
        self.said: list[str] = []
        self.opted_out = False

    async def say(self, text: str) -> None:
        self.said.append(text)

    async def ask(self, text: str, node: scripts_pb2.AskNode) -> Reply:
        self.said.append(text)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def transfer(self, transfer: object, whisper: str) -> bool:
        return False

    async def opt_out(self) -> None:
        self.opted_out = True

    async def finish_listening(self) -> None:
        pass


class Events:
    def __init__(self) -> None:
        self.nodes: list[str] = []
        self.replies: list[str] = []

    async def node_entered(self, node_id: str, tag: str) -> None:
        self.nodes.append(node_id)

    async def reply(self, node_id: str, reply: Reply) -> None:
        self.replies.append(reply.intent)


async def run(replies: list[Reply | Exception]) -> tuple[FakeChannel, Events, object]:
    channel, events = FakeChannel(replies), Events()
    outcome = await run_dialog(
        SCRIPT, {"name": "Анна"}, channel, events, language="ru", tenant_display_name="Клиника Здоровье"
    )
    return channel, events, outcome


async def test_disclosure_comes_first_then_the_script() -> None:
    channel, events, outcome = await run([Reply("yes", "да")])
    assert "Клиника Здоровье" in channel.said[0] and "автоматический" in channel.said[0]
    assert "нажмите 9" in channel.said[0]
    assert channel.said[1:] == ["Здравствуйте, Анна!", "Вы придёте?", "Спасибо!", "До свидания"]
    assert events.nodes == ["greet", "confirm", "thanks", "bye"]
    assert outcome.reason == "completed" and outcome.tags == ["confirmed"]  # type: ignore[attr-defined]
    assert outcome.results == {"visit": "confirmed"}  # type: ignore[attr-defined]


async def test_keypad_two_means_no() -> None:
    _, events, _ = await run([Reply("other", digits="2")])
    assert events.nodes == ["greet", "confirm", "bye"]


async def test_no_input_is_retried_then_takes_its_branch() -> None:
    channel, events, _ = await run([Reply("no_input"), Reply("no_input")])
    assert channel.said.count("Вы придёте?") == 2
    assert events.nodes[-1] == "bye"


async def test_opt_out_at_any_question_ends_the_call() -> None:
    channel, events, outcome = await run([Reply("opt_out", "не звоните мне больше")])
    assert channel.opted_out
    assert outcome.reason == "opted out"  # type: ignore[attr-defined]
    assert events.nodes == ["greet", "confirm"]


async def test_key_nine_opts_out_even_where_the_script_maps_nothing() -> None:
    channel, _, outcome = await run([Reply("other", digits="9")])
    assert channel.opted_out and outcome.reason == "opted out"  # type: ignore[attr-defined]


async def test_callee_hanging_up_ends_the_dialog() -> None:
    _, _, outcome = await run([CalleeHungUp()])
    assert outcome.reason == "callee hung up"  # type: ignore[attr-defined]


CONFIRMING = load_script_yaml("""
start: confirm
nodes:
  confirm: {ask: "Вы придёте?", expect: yes_no, confirm_below: 0.6, on: {yes: thanks, no: bye}}
  thanks: {hangup: "Спасибо!"}
  bye: {hangup: "До свидания"}
""")


async def run_confirming(replies: list[Reply | Exception]) -> tuple[FakeChannel, Events, object]:
    channel, events = FakeChannel(replies), Events()
    outcome = await run_dialog(CONFIRMING, {}, channel, events, language="ru", tenant_display_name="Клиника")
    return channel, events, outcome


async def test_unsure_scored_answer_is_asked_again_and_the_second_stands() -> None:
    channel, events, _ = await run_confirming(
        [
            Reply("no", "нет", confidence=0.45, decided_by="scoring"),
            Reply("yes", "да", confidence=0.9, decided_by="scoring"),
        ]
    )
    assert channel.said[1:] == ["Вы придёте?", "Извините, я не расслышала.", "Вы придёте?", "Спасибо!"]
    assert events.replies == ["no", "yes"]


async def test_the_second_unsure_answer_is_not_asked_a_third_time() -> None:
    channel, events, _ = await run_confirming(
        [
            Reply("yes", "да", confidence=0.5, decided_by="scoring"),
            Reply("no", "нет", confidence=0.5, decided_by="scoring"),
        ]
    )
    assert channel.said[-1] == "До свидания" and events.replies == ["yes", "no"]


async def test_sure_fluent_keyed_and_unconfigured_answers_are_acted_on_at_once() -> None:
    for reply in (
        Reply("yes", "да", confidence=0.95, decided_by="scoring"),  # sure
        Reply("yes", "да", confidence=0.4, decided_by="transcript"),  # read fluently as an answer
        Reply("yes", digits="1", confidence=1.0),  # a key press
        Reply("other", "не знаю", confidence=0.3, decided_by="scoring"),  # not a yes or no
    ):
        channel, _, _ = await run_confirming([reply, Reply("no_input")])
        assert "Извините, я не расслышала." not in channel.said, reply
    # Without confirm_below the question never confirms (the demo script's questions).
    channel, _, _ = await run([Reply("yes", "да", confidence=0.2, decided_by="scoring")])
    assert "Извините, я не расслышала." not in channel.said


async def test_opt_out_in_the_second_answer_is_honoured() -> None:
    channel, _, outcome = await run_confirming(
        [Reply("yes", "да", confidence=0.5, decided_by="scoring"), Reply("opt_out", "не звоните мне")]
    )
    assert channel.opted_out and outcome.reason == "opted out"  # type: ignore[attr-defined]
