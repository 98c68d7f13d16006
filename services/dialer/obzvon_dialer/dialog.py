"""The dialog engine: walks a script's nodes over a call channel. Pure logic; media lives in the channel.

The platform's disclosure is spoken before the script's first node, so no script can remove or
reorder it; the opt-out intent is honoured at every question, whatever the script says, and the
channel listens for key 9 and opt-out phrases all through the call (CalleeOptedOut from any of its
calls). A channel ends a call that runs too long or whose media stops with CallCutOff.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from obzvon.decisions import Decision, decide
from obzvon.outcomes import describe
from obzvon.script import NOT_SURE, disclosure_text, node_kind, node_text, render, spoken
from obzvon.v1 import scripts_pb2
from obzvon.v1.events_pb2 import CallOutcome, OutcomeDetail

# A script that keeps a call going longer than this many node visits is cut off (a safety net:
# validation already rejects loops with no exit).
MAX_STEPS = 64
KEYPAD_DEFAULTS = {"1": "yes", "2": "no"}
OPT_OUT_KEY = "9"


class CalleeHungUp(Exception):
    """The far end hung up; the dialog ends where it is."""


class CalleeOptedOut(Exception):
    """The callee pressed 9 or asked not to be called while the robot spoke or waited; the dialog opts out."""


class CutOff(enum.Enum):
    """Why the platform ended a call the script had not ended (the value is for logs)."""

    MAX_CALL_LENGTH = "max call length"
    RTP_INACTIVITY = "rtp inactivity"  # no media from the callee for too long: a dead line

    @property
    def outcome(self) -> CallOutcome.ValueType:
        if self is CutOff.MAX_CALL_LENGTH:
            return CallOutcome.CALL_OUTCOME_CALL_TOO_LONG
        return CallOutcome.CALL_OUTCOME_MEDIA_TIMEOUT


class CallCutOff(Exception):
    def __init__(self, cut_off: CutOff) -> None:
        super().__init__(cut_off.value)
        self.cut_off = cut_off


@dataclass(frozen=True)
class Reply:
    """What the callee answered to a question."""

    intent: str  # yes, no, opt_out, callback, operator, other, no_input
    text: str = ""
    digits: str = ""  # keypad input, if the answer came by DTMF
    confidence: float = 0.0
    decided_by: str = ""  # asr's AsrResult.decided_by: "scoring", "transcript" or "digits"


class Channel(Protocol):
    async def say(self, text: str) -> None: ...

    async def ask(self, text: str, node: scripts_pb2.AskNode) -> Reply: ...

    async def transfer(self, transfer: scripts_pb2.TransferNode, whisper: str) -> bool:
        """Dials the node's operator and bridges the callee to them; True once they answered (the call is
        then over: either side hung up), False when they were busy or did not answer."""
        ...

    async def opt_out(self) -> None:
        """Puts the number on the tenant's do-not-call list and confirms it to the callee."""
        ...

    async def finish_listening(self) -> None:
        """Waits for what the callee said as the script ended to be understood (CalleeOptedOut if it
        was an opt-out); the script's own end does not cut off a callee's «не звоните»."""
        ...


class DialogEvents(Protocol):
    async def node_entered(self, node_id: str, tag: str) -> None: ...

    async def reply(self, node_id: str, reply: Reply) -> None: ...


@dataclass
class Outcome:
    kind: CallOutcome.ValueType = CallOutcome.CALL_OUTCOME_COMPLETED
    # The node the call ended at (where the callee hung up, the question left unanswered); empty
    # when it ended during the disclosure, before the script's first node.
    node: str = ""
    tags: list[str] = field(default_factory=list)
    results: dict[str, str] = field(default_factory=dict)

    @property
    def detail(self) -> OutcomeDetail:
        return OutcomeDetail(outcome=self.kind, node=self.node)

    @property
    def reason(self) -> str:
        """The outcome's text for people (logs, CallEvent.reason); decide by `kind`."""
        return describe(self.detail)


def needs_confirmation(reply: Reply, ask: scripts_pb2.AskNode) -> bool:
    """A spoken yes or no heard with less confidence than the question asks for: the shared rule
    (obzvon.decisions.decide), the one `obzvon-asr classify` and bench/asr_accuracy.py print."""
    decision = decide(
        intent=reply.intent,
        decided_by=reply.decided_by,
        confidence=reply.confidence,
        expect=ask.expect,
        confirm_below=ask.confirm_below,
        keyed=bool(reply.digits),
    )
    return decision is Decision.CONFIRM


def branch_for(reply: Reply, ask: scripts_pb2.AskNode) -> str:
    """The key of ask.on the reply selects ("no_input" and "no_match" when nothing fits)."""
    if reply.intent == "no_input":
        return "no_input"
    if reply.digits:
        if reply.digits in ask.on:
            return reply.digits
        if ask.expect == scripts_pb2.EXPECT_YES_NO:
            return KEYPAD_DEFAULTS.get(reply.digits, "no_match")
        if ask.expect == scripts_pb2.EXPECT_DIGITS and len(reply.digits) == ask.digits_length:
            return "match" if "match" in ask.on else "no_match"
        return "no_match"
    if ask.expect == scripts_pb2.EXPECT_YES_NO and reply.intent in ("yes", "no"):
        return reply.intent
    if ask.expect == scripts_pb2.EXPECT_CHOICE and reply.intent in ask.choices:
        return reply.intent
    if reply.intent in ask.on:  # e.g. a script branch on "operator" or "callback"
        return reply.intent
    return "no_match"


def texts_before_first_question(script: scripts_pb2.Script, variables: Mapping[str, str]) -> list[str]:
    """The script's prompts a callee hears up to and including its first question, rendered, in order.

    The walk is run_dialog's before any reply: say nodes lead on; the first ask, transfer or hangup is
    the last prompt. A text the contact's variables cannot fill is left out here: the dialog fails on it
    whether or not it was rendered beforehand.
    """
    texts: list[str] = []
    seen: set[str] = set()
    node_id = script.start
    while node_id in script.nodes and node_id not in seen:
        seen.add(node_id)
        node = script.nodes[node_id]
        text = node_text(node)
        if text:
            try:
                texts.append(render(text, variables))
            except KeyError:
                pass
        if node_kind(node) != "say":
            break
        node_id = node.next
    return texts


async def run_dialog(
    script: scripts_pb2.Script,
    variables: Mapping[str, str],
    channel: Channel,
    events: DialogEvents,
    *,
    language: str,
    tenant_display_name: str,
    callback_number: str = "",
    recorded: bool = False,
) -> Outcome:
    progress = Outcome()
    opening = disclosure_text(language, tenant_display_name, callback_number=callback_number, recorded=recorded)
    try:
        kind = await _walk(script, variables, channel, events, progress, language, opening)
        # After a transfer the callee talked to a person: nothing is left for the robot to hear.
        if kind not in (OPTED_OUT, CallOutcome.CALL_OUTCOME_TRANSFERRED):
            await channel.finish_listening()
    except CalleeOptedOut:
        await channel.opt_out()
        kind = OPTED_OUT
    except CalleeHungUp:
        kind = CallOutcome.CALL_OUTCOME_CALLEE_HUNG_UP
    except CallCutOff as cut:
        kind = cut.cut_off.outcome
    return Outcome(kind, progress.node, progress.tags, progress.results)


OPTED_OUT = CallOutcome.CALL_OUTCOME_OPTED_OUT


async def _walk(
    script: scripts_pb2.Script,
    variables: Mapping[str, str],
    channel: Channel,
    events: DialogEvents,
    progress: Outcome,
    language: str,
    disclosure: str,
) -> CallOutcome.ValueType:
    """Speaks the disclosure, then the script's nodes; how the script ended (the node, tags and results
    go to progress)."""
    await channel.say(disclosure)
    node_id = script.start
    for _ in range(MAX_STEPS):
        node = script.nodes[node_id]
        progress.node = node_id
        await events.node_entered(node_id, node.tag)
        if node.tag:
            progress.tags.append(node.tag)
        progress.results.update(node.set)
        kind = node_kind(node)
        if kind == "say":
            await channel.say(render(node.say.text, variables))
            node_id = node.next
        elif kind == "ask":
            next_id = await _ask(node_id, node.ask, variables, channel, events, language)
            if next_id is None:
                return OPTED_OUT
            if next_id == "":
                return CallOutcome.CALL_OUTCOME_NO_ANSWER_TO_QUESTION
            node_id = next_id
        elif kind == "transfer":
            if node.transfer.text:
                await channel.say(render(node.transfer.text, variables))
            whisper = render(node.transfer.whisper, variables) if node.transfer.whisper else ""
            if await channel.transfer(node.transfer, whisper):
                return CallOutcome.CALL_OUTCOME_TRANSFERRED
            if not node.transfer.no_answer:
                return CallOutcome.CALL_OUTCOME_TRANSFER_FAILED
            node_id = node.transfer.no_answer  # nobody took the call: e.g. offer a callback
        else:  # hangup
            if node.hangup.text:
                await channel.say(render(node.hangup.text, variables))
            return CallOutcome.CALL_OUTCOME_COMPLETED
    return CallOutcome.CALL_OUTCOME_SCRIPT_STEP_LIMIT


async def _ask(
    node_id: str,
    ask: scripts_pb2.AskNode,
    variables: Mapping[str, str],
    channel: Channel,
    events: DialogEvents,
    language: str,
) -> str | None:
    """Next node id; None when the callee opted out; "" when the question ran out of tries unanswered."""
    text = render(ask.text, variables)
    tries = max(ask.retries, 0) + 1
    for attempt in range(1, tries + 1):
        reply = await channel.ask(text, ask)
        await events.reply(node_id, reply)
        if needs_confirmation(reply, ask):
            # Acting on a misheard yes or no is the one mistake the callee cannot undo; asked once
            # more, the second answer stands (not a retry: the first was an answer).
            await channel.say(spoken(NOT_SURE, language))
            reply = await channel.ask(text, ask)
            await events.reply(node_id, reply)
        if _opts_out(reply):
            await channel.opt_out()
            return None
        branch = branch_for(reply, ask)
        if branch not in ("no_input", "no_match"):
            return ask.on[branch]
        if attempt == tries:
            return ask.on.get(branch, "")
    return ""


def _opts_out(reply: Reply) -> bool:
    return reply.intent == "opt_out" or reply.digits == OPT_OUT_KEY
