"""The dialog engine's outcome is a CallOutcome with the node the call ended at (pure logic, no media)."""

from __future__ import annotations

from obzvon.script import load_script_yaml
from obzvon.v1 import events_pb2 as ev
from obzvon_dialer.dialog import MAX_STEPS, CallCutOff, CalleeHungUp, CutOff, Reply
from test_dialog_interruptions import SAY_ONLY, WITH_QUESTION, InterruptingChannel, run

TRANSFER = load_script_yaml("""
start: hand_over
nodes:
  hand_over: {transfer: "reception", say: "Соединяю"}
""")
LOOP = load_script_yaml("""
start: a
nodes:
  a: {say: "Раз", next: b}
  b: {say: "Два", next: a}
""")


async def test_the_node_where_the_callee_hung_up() -> None:
    _, outcome = await run(WITH_QUESTION, InterruptingChannel("Вы придёте?", CalleeHungUp()))
    assert (outcome.kind, outcome.node) == (ev.CALL_OUTCOME_CALLEE_HUNG_UP, "confirm")
    assert outcome.detail.node == "confirm" and outcome.reason == "callee hung up"


async def test_a_hang_up_during_the_disclosure_names_no_node() -> None:
    _, outcome = await run(WITH_QUESTION, InterruptingChannel("автоматический", CalleeHungUp()))
    assert (outcome.kind, outcome.node) == (ev.CALL_OUTCOME_CALLEE_HUNG_UP, "")


async def test_a_completed_script() -> None:
    _, outcome = await run(WITH_QUESTION, InterruptingChannel("nothing", CalleeHungUp(), [Reply("yes")]))
    assert (outcome.kind, outcome.node) == (ev.CALL_OUTCOME_COMPLETED, "bye")


async def test_a_question_left_unanswered_names_it() -> None:
    class NoInputChannel(InterruptingChannel):
        async def finish_listening(self) -> None:
            self.finished_listening = True

    script = load_script_yaml("""
start: confirm
nodes:
  confirm: {ask: "Вы придёте?", expect: yes_no, on: {yes: bye, no: bye}, retries: 1}
  bye: {hangup: "До свидания"}
""")
    _, outcome = await run(script, NoInputChannel("", CalleeHungUp()))
    assert (outcome.kind, outcome.node) == (ev.CALL_OUTCOME_NO_ANSWER_TO_QUESTION, "confirm")


async def test_cut_offs_and_transfers_and_the_step_limit() -> None:
    _, long = await run(SAY_ONLY, InterruptingChannel("Забрать", CallCutOff(CutOff.MAX_CALL_LENGTH)))
    assert (long.kind, long.node) == (ev.CALL_OUTCOME_CALL_TOO_LONG, "details")
    _, dead = await run(SAY_ONLY, InterruptingChannel("Забрать", CallCutOff(CutOff.RTP_INACTIVITY)))
    assert dead.kind == ev.CALL_OUTCOME_MEDIA_TIMEOUT
    _, transfer = await run(TRANSFER, InterruptingChannel("nothing", CalleeHungUp()))
    assert transfer.kind == ev.CALL_OUTCOME_TRANSFER_FAILED  # the test channel's transfer is never answered
    events, looped = await run(LOOP, InterruptingChannel("nothing", CalleeHungUp()))
    assert looped.kind == ev.CALL_OUTCOME_SCRIPT_STEP_LIMIT and len(events.nodes) == MAX_STEPS
