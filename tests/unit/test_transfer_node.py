"""A transfer node names an operator extension on the campaign's trunk and a no_answer branch (issue #12).

Pure logic: the script's validation and YAML form, and the dialog engine's branch when nobody answers.
"""

from __future__ import annotations

from obzvon.script import load_script_yaml, script_variables, validate_script
from obzvon.v1 import events_pb2 as ev
from obzvon.v1 import scripts_pb2
from obzvon_dialer.dialog import Reply, run_dialog

OFFER_CALLBACK = """
start: connect
nodes:
  connect: {transfer: "reception", say: "Соединяю с оператором", whisper: "Клиент {name}", ring_timeout: 15,
            no_answer: offer}
  offer: {ask: "Перезвонить вам позже?", expect: yes_no, on: {yes: later, no: bye}}
  later: {say: "Перезвоним.", next: bye}
  bye: {hangup: "До свидания"}
"""


def test_the_yaml_form_reads_into_a_structured_destination() -> None:
    script = load_script_yaml(OFFER_CALLBACK)
    node = script.nodes["connect"].transfer
    assert (node.operator, node.no_answer, node.ring_timeout_seconds) == ("reception", "offer", 15)
    assert node.whisper == "Клиент {name}" and node.text == "Соединяю с оператором"
    assert validate_script(script) == []
    assert "name" in script_variables(script)  # the whisper's variables are checked like the prompts'


def test_a_uri_or_a_phone_number_is_no_operator() -> None:
    for target in ("sip:op@10.0.0.1", "op@host", "op;x=1", "+79991234567", "112", "a b"):
        script = load_script_yaml(OFFER_CALLBACK.replace('"reception"', f'"{target}"'))
        assert [p.field for p in validate_script(script)] == ['script.nodes["connect"].transfer.operator'], target


def test_an_unknown_no_answer_node_and_a_transfer_without_branch() -> None:
    unknown = load_script_yaml(OFFER_CALLBACK.replace("no_answer: offer", "no_answer: nowhere"))
    assert 'script.nodes["connect"].transfer.no_answer' in [p.field for p in validate_script(unknown)]
    # Without no_answer the call ends either way (transferred or transfer failed): a valid last node.
    alone = load_script_yaml('start: connect\nnodes:\n  connect: {transfer: "1001", say: "Соединяю"}\n')
    assert validate_script(alone) == []


class _Channel:
    def __init__(self, answered: bool) -> None:
        self.answered = answered
        self.said: list[str] = []
        self.transfers: list[tuple[str, str]] = []

    async def say(self, text: str) -> None:
        self.said.append(text)

    async def ask(self, text: str, node: scripts_pb2.AskNode) -> Reply:
        self.said.append(text)
        return Reply("yes")

    async def transfer(self, transfer: scripts_pb2.TransferNode, whisper: str) -> bool:
        self.transfers.append((transfer.operator, whisper))
        return self.answered

    async def opt_out(self) -> None:
        pass

    async def finish_listening(self) -> None:
        pass


class _Events:
    def __init__(self) -> None:
        self.nodes: list[str] = []

    async def node_entered(self, node_id: str, tag: str) -> None:
        self.nodes.append(node_id)

    async def reply(self, node_id: str, reply: Reply) -> None:
        pass


async def _run(answered: bool) -> tuple[ev.CallOutcome.ValueType, _Channel, _Events]:
    channel, events = _Channel(answered), _Events()
    script = load_script_yaml(OFFER_CALLBACK)
    outcome = await run_dialog(script, {"name": "Анна"}, channel, events, language="ru", tenant_display_name="Клиника")
    return outcome.kind, channel, events


async def test_an_answered_transfer_ends_the_script_as_transferred() -> None:
    kind, channel, events = await _run(answered=True)
    assert kind == ev.CALL_OUTCOME_TRANSFERRED
    assert channel.transfers == [("reception", "Клиент Анна")]  # the whisper rendered with the contact's name
    assert events.nodes == ["connect"]


async def test_nobody_answering_takes_the_no_answer_branch() -> None:
    kind, channel, events = await _run(answered=False)
    assert events.nodes == ["connect", "offer", "later", "bye"]
    assert "Перезвонить вам позже?" in channel.said
    assert kind == ev.CALL_OUTCOME_COMPLETED
