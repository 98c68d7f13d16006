"""The dialog engine when the channel interrupts it (issue #10 items 3 and 15): pure logic, no media.

The channel listens for key 9 and opt-out phrases all through the call and raises CalleeOptedOut from
whatever it is doing (the disclosure, a say node, a question); it ends a call that ran too long or went
silent with CallCutOff. The engine turns both into outcomes.
"""

from __future__ import annotations

from obzvon.script import load_script_yaml
from obzvon.v1 import scripts_pb2
from obzvon_dialer.dialog import CallCutOff, CalleeHungUp, CalleeOptedOut, CutOff, Outcome, Reply, run_dialog

SAY_ONLY = load_script_yaml("""
start: notice
nodes:
  notice: {say: "Ваш заказ готов.", tag: told, next: details}
  details: {say: "Забрать его можно до пятницы.", next: bye}
  bye: {hangup: "До свидания"}
""")
WITH_QUESTION = load_script_yaml("""
start: greet
nodes:
  greet: {say: "Здравствуйте!", next: confirm}
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: bye, no: bye, no_input: confirm}, retries: 1}
  bye: {hangup: "До свидания"}
""")


class InterruptingChannel:
    """Says and asks as scripted; raises `interruption` when the text `at` is spoken (or at the end)."""

    def __init__(self, at: str, interruption: Exception, replies: list[Reply] | None = None) -> None:
        self.at = at
        self.interruption = interruption
        self.replies = replies or []
        self.said: list[str] = []
        self.opted_out = 0
        self.finished_listening = False

    def _speak(self, text: str) -> None:
        self.said.append(text)
        if self.at and self.at in text:
            raise self.interruption

    async def say(self, text: str) -> None:
        self._speak(text)

    async def ask(self, text: str, node: scripts_pb2.AskNode) -> Reply:
        self._speak(text)
        return self.replies.pop(0) if self.replies else Reply("no_input")

    async def transfer(self, transfer: object, whisper: str) -> bool:
        return False

    async def opt_out(self) -> None:
        self.opted_out += 1

    async def finish_listening(self) -> None:
        self.finished_listening = True
        if not self.at:
            raise self.interruption


class Events:
    def __init__(self) -> None:
        self.nodes: list[str] = []

    async def node_entered(self, node_id: str, tag: str) -> None:
        self.nodes.append(node_id)

    async def reply(self, node_id: str, reply: Reply) -> None:
        pass


async def run(script: scripts_pb2.Script, channel: InterruptingChannel) -> tuple[Events, Outcome]:
    events = Events()
    outcome = await run_dialog(script, {}, channel, events, language="ru", tenant_display_name="Магазин")
    return events, outcome


async def test_opt_out_during_the_disclosure_stops_the_script_before_it_starts() -> None:
    channel = InterruptingChannel("автоматический", CalleeOptedOut())
    events, outcome = await run(WITH_QUESTION, channel)
    assert outcome.reason == "opted out" and channel.opted_out == 1
    assert events.nodes == [] and len(channel.said) == 1


async def test_opt_out_during_a_say_node_of_a_script_without_questions() -> None:
    channel = InterruptingChannel("Забрать", CalleeOptedOut())
    events, outcome = await run(SAY_ONLY, channel)
    assert outcome.reason == "opted out" and channel.opted_out == 1
    assert events.nodes == ["notice", "details"] and outcome.tags == ["told"]
    assert "До свидания" not in channel.said


async def test_opt_out_heard_as_the_last_prompt_ends_is_still_honoured() -> None:
    # «не звоните» said over the goodbye: recognised after the script's last node.
    channel = InterruptingChannel("", CalleeOptedOut())
    _, outcome = await run(SAY_ONLY, channel)
    assert channel.finished_listening and channel.opted_out == 1 and outcome.reason == "opted out"


async def test_opt_out_while_a_question_is_asked() -> None:
    channel = InterruptingChannel("Вы придёте?", CalleeOptedOut())
    _, outcome = await run(WITH_QUESTION, channel)
    assert outcome.reason == "opted out" and channel.opted_out == 1


async def test_an_answered_question_still_opts_out_once_only() -> None:
    channel = InterruptingChannel("xx-never", CalleeOptedOut(), [Reply("opt_out", "не звоните")])
    _, outcome = await run(WITH_QUESTION, channel)
    assert outcome.reason == "opted out" and channel.opted_out == 1 and not channel.finished_listening


async def test_a_call_cut_off_for_its_length_names_the_reason() -> None:
    channel = InterruptingChannel("Вы придёте?", CallCutOff(CutOff.MAX_CALL_LENGTH))
    events, outcome = await run(WITH_QUESTION, channel)
    assert outcome.reason == "max call length" and channel.opted_out == 0
    assert events.nodes == ["greet", "confirm"]


async def test_a_call_cut_off_for_silent_media_names_the_reason() -> None:
    channel = InterruptingChannel("Здравствуйте", CallCutOff(CutOff.RTP_INACTIVITY))
    _, outcome = await run(WITH_QUESTION, channel)
    assert outcome.reason == "rtp inactivity"


async def test_hang_up_is_still_a_hang_up() -> None:
    channel = InterruptingChannel("Забрать", CalleeHungUp())
    _, outcome = await run(SAY_ONLY, channel)
    assert outcome.reason == "callee hung up" and channel.opted_out == 0
