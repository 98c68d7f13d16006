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

    async def transfer(self, target_uri: str) -> bool:
        return False

    async def opt_out(self) -> None:
        self.opted_out = True


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
    outcome = await run_dialog(SCRIPT, {"name": "Анна"}, channel, events, language="ru",
                               tenant_display_name="Клиника Здоровье")
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
