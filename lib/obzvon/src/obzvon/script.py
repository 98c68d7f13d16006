"""Dialog scripts: validation before a campaign starts, variable rendering, the platform's disclosure.

A script is a graph of nodes (obzvon.v1.Script). The dialer walks it; this module decides whether it
may be walked at all: every reference resolves, every node is reachable, every path can end.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

import phonenumbers

from obzvon.errors import FieldViolation
from obzvon.limits import MAX_DIGITS_LENGTH, ScriptLimits
from obzvon.v1 import scripts_pb2

# Branch keys an ask node may use besides its answers.
FALLBACK_BRANCHES = ("no_input", "no_match")
YES_NO_ANSWERS = ("yes", "no")

DISCLOSURE = {
    "ru": (
        "Здравствуйте! Это автоматический звонок от компании «{tenant}». "
        "Чтобы больше не получать наши звонки, скажите «не звоните» или нажмите 9."
    ),
    "en": "Hello! This is an automated call from {tenant}. To stop our calls, say stop or press 9.",
}
# Added to the disclosure when the campaign has a callback number (required by us-tcpa).
CALLBACK = {
    "ru": "Перезвонить нам можно по номеру {number}.",
    "en": "You can call us back at {number}.",
}
# Said before a question is asked again because its yes or no was heard with too little
# confidence (AskNode.confirm_below). Static, so it is rendered when the campaign starts.
NOT_SURE = {
    "ru": "Извините, я не расслышала.",
    "en": "Sorry, I didn't catch that.",
}
OPT_OUT_CONFIRMATION = {
    "ru": "Ваш номер удалён из списка обзвона. Больше мы не позвоним. До свидания!",
    "en": "Your number has been removed from our list. We will not call again. Goodbye!",
}
# The platform's own opening, rendered by every dialer at start-up in each language (default voice):
# played at once when a callee answers before the campaign's disclosure audio is ready, so no one
# answers into silence; the disclosure follows when it comes.
AUTOMATED_CALL = {
    "ru": "Здравствуйте! Это автоматический звонок.",
    "en": "Hello, this is an automated call.",
}
# Said, also from start-up audio, before the platform hangs up a call whose next prompt did not come
# in time (tts behind): a polite end rather than silence. The attempt is retried.
CANNOT_CONTINUE = {
    "ru": "Извините, сейчас мы не можем продолжить разговор. Мы перезвоним позже. До свидания.",
    "en": "Sorry, we cannot continue this call right now. We will call you back later. Goodbye.",
}


def spoken(sentences: Mapping[str, str], language: str) -> str:
    """One of the platform's own sentences (NOT_SURE, OPT_OUT_CONFIRMATION, ...) in the call's
    language; English where it has none."""
    return sentences.get(language, sentences["en"])


# Appended to the disclosure of a campaign that records its calls: the callee is told before speaking.
RECORDED = {
    "ru": "Разговор записывается.",
    "en": "This call is recorded.",
}


def disclosure_text(language: str, tenant_display_name: str, *, callback_number: str, recorded: bool = False) -> str:
    """The opening every call starts with; added by the dialer, so no script can remove or reorder it.

    The one text function for the scheduler's prerender and the dialer: both pass the campaign's
    callback number (E.164) and recording flag, so the audio rendered at campaign start is the audio
    the dialer asks for.
    """
    text = spoken(DISCLOSURE, language).format(tenant=tenant_display_name)
    if callback_number:
        text += " " + spoken(CALLBACK, language).format(number=spoken_phone_number(callback_number))
    if recorded:
        text += " " + spoken(RECORDED, language)
    return text


def spoken_phone_number(e164: str) -> str:
    """The number in digit groups ("+1 202-555-0143", "+7 495 000-00-00"), which tts reads group by
    group; an unparseable one is left as it is (the API accepts only valid E.164)."""
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def node_kind(node: scripts_pb2.ScriptNode) -> str:
    return node.WhichOneof("kind") or ""


def node_text(node: scripts_pb2.ScriptNode) -> str:
    kind = node_kind(node)
    return str(getattr(node, kind).text) if kind else ""


def variables_in(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def script_variables(script: scripts_pb2.Script) -> set[str]:
    out: set[str] = set()
    for node in script.nodes.values():
        out |= variables_in(node_text(node))
        if node_kind(node) == "transfer":
            out |= variables_in(node.transfer.whisper)
    return out


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def render(text: str, variables: Mapping[str, str]) -> str:
    return text.format_map(_Missing(variables))


def successors(node: scripts_pb2.ScriptNode) -> list[str]:
    kind = node_kind(node)
    if kind == "ask":
        return list(node.ask.on.values())
    if kind == "say":
        return [node.next] if node.next else []
    if kind == "transfer":
        return [node.transfer.no_answer] if node.transfer.no_answer else []
    return []


PLATFORM_LIMITS = ScriptLimits()


def validate_script(
    script: scripts_pb2.Script, field: str = "script", limits: ScriptLimits = PLATFORM_LIMITS
) -> list[FieldViolation]:
    """All problems of a script, each naming the field; empty when the script may run.

    Linear in the script's size, and the size is checked first: a tenant's script must never cost
    the API (or the dispatcher, which walks it at start) more than a bounded amount of work.
    """
    problems: list[FieldViolation] = []
    nodes = script.nodes
    if not nodes:
        return [FieldViolation(f"{field}.nodes", "a script needs at least one node")]
    size = script.ByteSize()
    if size > limits.max_bytes:
        return [FieldViolation(field, f"{size} bytes; a script may have at most {limits.max_bytes}")]
    if len(nodes) > limits.max_nodes:
        return [FieldViolation(f"{field}.nodes", f"{len(nodes)} nodes; a script may have at most {limits.max_nodes}")]
    if not script.start:
        problems.append(FieldViolation(f"{field}.start", "missing start node"))
    elif script.start not in nodes:
        problems.append(FieldViolation(f"{field}.start", f'unknown node "{_cut(script.start)}"'))

    for node_id, node in nodes.items():
        where = f'{field}.nodes["{_cut(node_id)}"]'
        if len(node_id) > limits.max_name_chars:
            problems.append(FieldViolation(where, f"a node id has at most {limits.max_name_chars} characters"))
        kind = node_kind(node)
        if not kind:
            problems.append(FieldViolation(where, "a node must be one of say, ask, transfer, hangup"))
            continue
        if kind in ("say", "ask") and not getattr(node, kind).text.strip():
            problems.append(FieldViolation(f"{where}.{kind}.text", "empty text"))
        if len(node_text(node)) > limits.max_text_chars:
            problems.append(
                FieldViolation(f"{where}.{kind}.text", f"at most {limits.max_text_chars} characters are spoken")
            )
        problems.extend(_check_labels(node, where, limits))
        if kind == "say":
            if not node.next:
                problems.append(FieldViolation(f"{where}.next", "a say node needs a next node"))
            elif node.next not in nodes:
                problems.append(FieldViolation(f"{where}.next", f'unknown node "{_cut(node.next)}"'))
        if kind == "transfer":
            problems.extend(_validate_transfer(node, where, nodes, limits))
        if kind == "ask":
            problems.extend(_validate_ask(node.ask, where, limits))

    if problems:
        return problems
    return _validate_graph(script, field)


def _cut(text: str, limit: int = 64) -> str:
    """A tenant's string quoted in an error, cut short: an error must stay small whatever was sent."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_labels(node: scripts_pb2.ScriptNode, where: str, limits: ScriptLimits) -> list[FieldViolation]:
    """Tags, result fields and transfer targets: short labels, never texts."""
    problems: list[FieldViolation] = []
    if len(node.tag) > limits.max_name_chars:
        problems.append(FieldViolation(f"{where}.tag", f"at most {limits.max_name_chars} characters"))
    if len(node.set) > limits.max_branches:
        problems.append(FieldViolation(f"{where}.set", f"at most {limits.max_branches} result fields"))
    if any(len(k) > limits.max_name_chars or len(v) > limits.max_name_chars for k, v in node.set.items()):
        problems.append(
            FieldViolation(f"{where}.set", f"names and values of at most {limits.max_name_chars} characters")
        )
    return problems


# An operator extension is the user part of a Request-URI on the campaign's trunk: a name that starts
# with a letter, or a short PBX extension. Never URI syntax ('@', ';', '?', ':' would reach another
# host or add parameters), and never a phone number or an emergency/service code (1 to 3 digits:
# 112, 911, 01-04, 101-104), which the trunk would route to the public network.
OPERATOR_EXTENSION_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9._-]{0,31}|[0-9]{4,6})$")
MAX_OPERATOR_RING_S = 60
DEFAULT_OPERATOR_RING_S = 20


def _validate_transfer(
    node: scripts_pb2.ScriptNode, where: str, nodes: Mapping[str, scripts_pb2.ScriptNode], limits: ScriptLimits
) -> list[FieldViolation]:
    transfer = node.transfer
    problems: list[FieldViolation] = []
    if not OPERATOR_EXTENSION_RE.match(transfer.operator):
        problems.append(
            FieldViolation(
                f"{where}.transfer.operator",
                "an operator extension dialled on the campaign's trunk: a name of letters, digits, '.', '_', '-'"
                " starting with a letter (at most 32), or 4 to 6 digits; no SIP URI, host or phone number",
            )
        )
    if node.next:
        problems.append(
            FieldViolation(
                f"{where}.next",
                "a transfer node ends the call when the operator answers; name transfer.no_answer for when nobody does",
            )
        )
    if transfer.no_answer and transfer.no_answer not in nodes:
        problems.append(FieldViolation(f"{where}.transfer.no_answer", f'unknown node "{_cut(transfer.no_answer)}"'))
    if not 0 <= transfer.ring_timeout_seconds <= MAX_OPERATOR_RING_S:
        problems.append(
            FieldViolation(f"{where}.transfer.ring_timeout_seconds", f"from 0 (default) to {MAX_OPERATOR_RING_S}")
        )
    if len(transfer.whisper) > limits.max_text_chars:
        problems.append(FieldViolation(f"{where}.transfer.whisper", f"at most {limits.max_text_chars} characters"))
    return problems


def _validate_ask(ask: scripts_pb2.AskNode, where: str, limits: ScriptLimits) -> list[FieldViolation]:
    problems: list[FieldViolation] = []
    if ask.expect == scripts_pb2.EXPECT_UNSPECIFIED:
        problems.append(
            FieldViolation(f"{where}.ask.expect", "say what the question expects: yes_no, digits or choice")
        )
    if len(ask.on) > limits.max_branches:
        problems.append(FieldViolation(f"{where}.ask.on", f"at most {limits.max_branches} branches"))
        return problems
    if len(ask.choices) > limits.max_branches or any(len(c) > limits.max_name_chars for c in ask.choices):
        problems.append(
            FieldViolation(
                f"{where}.ask.choices",
                f"at most {limits.max_branches} choices of at most {limits.max_name_chars} characters",
            )
        )
        return problems
    required: tuple[str, ...] = ()
    if ask.expect == scripts_pb2.EXPECT_YES_NO:
        required = YES_NO_ANSWERS
    elif ask.expect == scripts_pb2.EXPECT_CHOICE:
        if not ask.choices:
            problems.append(FieldViolation(f"{where}.ask.choices", "a choice question needs choices"))
        required = tuple(ask.choices)
    elif ask.expect == scripts_pb2.EXPECT_DIGITS and not 0 < ask.digits_length <= MAX_DIGITS_LENGTH:
        problems.append(FieldViolation(f"{where}.ask.digits_length", f"from 1 to {MAX_DIGITS_LENGTH}"))
    for answer in required:
        if answer not in ask.on:
            problems.append(FieldViolation(f'{where}.ask.on["{_cut(answer)}"]', f'missing branch for "{_cut(answer)}"'))
    if not 0 <= ask.retries <= limits.max_ask_retries:
        # Each retry asks the callee again; a script must not keep a person answering the same question.
        problems.append(FieldViolation(f"{where}.ask.retries", f"from 0 to {limits.max_ask_retries}"))
    if not 0.0 <= ask.confirm_below < 1.0:
        problems.append(FieldViolation(f"{where}.ask.confirm_below", "a confidence from 0 (off) to below 1"))
    elif ask.confirm_below and ask.expect != scripts_pb2.EXPECT_YES_NO:
        problems.append(FieldViolation(f"{where}.ask.confirm_below", "only a yes_no question confirms its answer"))
    return problems


def _validate_graph(script: scripts_pb2.Script, field: str) -> list[FieldViolation]:
    nodes = script.nodes
    problems: list[FieldViolation] = []
    for node_id, node in nodes.items():
        if node_kind(node) == "ask":
            for answer, target in node.ask.on.items():
                if target not in nodes:
                    where = f'{field}.nodes["{_cut(node_id)}"].ask.on["{_cut(answer)}"]'
                    problems.append(FieldViolation(where, f'unknown node "{_cut(target)}"'))
    if problems:
        return problems

    reachable: set[str] = set()
    stack = [script.start]
    while stack:
        current = stack.pop()
        if current in reachable:
            continue
        reachable.add(current)
        stack.extend(successors(nodes[current]))
    for node_id in sorted(set(nodes) - reachable):
        problems.append(FieldViolation(f'{field}.nodes["{_cut(node_id)}"]', "unreachable from the start node"))

    # A node can end the call if it hangs up, or if an ask without explicit fallbacks can run out of
    # retries (the dialer then hangs up), or if a successor can end it. Nodes that cannot are a loop
    # with no exit. Walked backwards from the ends, so each edge is looked at once.
    predecessors: dict[str, list[str]] = {}
    for nid, n in nodes.items():
        for succ in successors(n):
            predecessors.setdefault(succ, []).append(nid)
    can_end = {
        nid
        for nid, n in nodes.items()
        # A transfer ends the call once the operator answers (its no_answer branch is the other way on).
        if node_kind(n) in ("hangup", "transfer")
        or (node_kind(n) == "ask" and not all(b in n.ask.on for b in FALLBACK_BRANCHES))
    }
    frontier = list(can_end)
    while frontier:
        for pred in predecessors.get(frontier.pop(), ()):
            if pred not in can_end:
                can_end.add(pred)
                frontier.append(pred)
    for node_id in sorted(reachable - can_end):
        problems.append(
            FieldViolation(f'{field}.nodes["{_cut(node_id)}"]', "loop with no exit: no path reaches a hangup")
        )
    return problems


_NODE_KEYS = {
    "say",
    "ask",
    "expect",
    "on",
    "retries",
    "digits_length",
    "choices",
    "confirm_below",
    "transfer",
    "no_answer",
    "ring_timeout",
    "whisper",
    "hangup",
    "next",
    "tag",
    "set",
}
_EXPECTS = {
    "yes_no": scripts_pb2.EXPECT_YES_NO,
    "digits": scripts_pb2.EXPECT_DIGITS,
    "choice": scripts_pb2.EXPECT_CHOICE,
}


def script_from_mapping(data: object, field: str = "script") -> scripts_pb2.Script:
    """Reads the YAML/JSON form of a script (see docs/scripts.md); InvalidArgument names what is wrong."""
    from obzvon.errors import InvalidArgument

    if not isinstance(data, dict):
        raise InvalidArgument([FieldViolation(field, "a script is a mapping with start and nodes")])
    problems: list[FieldViolation] = []
    script = scripts_pb2.Script(start=str(data.get("start", "")))
    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        raise InvalidArgument([FieldViolation(f"{field}.nodes", "a mapping of node id to node")])
    for node_id, spec in nodes.items():
        where = f'{field}.nodes["{node_id}"]'
        if not isinstance(spec, dict):
            problems.append(FieldViolation(where, "a node is a mapping"))
            continue
        for key in sorted(set(spec) - _NODE_KEYS):
            problems.append(FieldViolation(f"{where}.{key}", "unknown key"))
        node = script.nodes[str(node_id)]
        if "ask" in spec:
            expect = _EXPECTS.get(str(spec.get("expect", "")))
            if expect is None:
                problems.append(FieldViolation(f"{where}.expect", f"one of {', '.join(_EXPECTS)}"))
            node.ask.CopyFrom(
                scripts_pb2.AskNode(
                    text=str(spec["ask"]),
                    expect=expect or scripts_pb2.EXPECT_UNSPECIFIED,
                    on={str(k): str(v) for k, v in (spec.get("on") or {}).items()},
                    retries=int(spec.get("retries", 0)),
                    digits_length=int(spec.get("digits_length", 0)),
                    choices=[str(c) for c in spec.get("choices", [])],
                    confirm_below=_number(spec, "confirm_below", where, problems),
                )
            )
        elif "transfer" in spec:
            node.transfer.CopyFrom(
                scripts_pb2.TransferNode(
                    text=str(spec.get("say", "")),
                    operator=str(spec["transfer"]),
                    no_answer=str(spec.get("no_answer", "")),
                    ring_timeout_seconds=int(_number(spec, "ring_timeout", where, problems)),
                    whisper=str(spec.get("whisper", "")),
                )
            )
        elif "hangup" in spec:
            last = spec["hangup"] if isinstance(spec["hangup"], str) else spec.get("say", "")
            node.hangup.CopyFrom(scripts_pb2.HangupNode(text=str(last)))
        elif "say" in spec:
            node.say.CopyFrom(scripts_pb2.SayNode(text=str(spec["say"])))
        node.next = str(spec.get("next", ""))
        node.tag = str(spec.get("tag", ""))
        node.set.update({str(k): str(v) for k, v in (spec.get("set") or {}).items()})
    if problems:
        raise InvalidArgument(problems)
    return script


def _number(spec: dict[str, object], key: str, where: str, problems: list[FieldViolation]) -> float:
    value = spec.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.append(FieldViolation(f"{where}.{key}", "a number"))
        return 0.0
    try:
        return float(value)
    except ValueError:
        problems.append(FieldViolation(f"{where}.{key}", "a number"))
        return 0.0


def load_script_yaml(text: str) -> scripts_pb2.Script:
    """Parses the YAML form. YAML 1.1 reads on/yes/no as booleans; scripts mean the words."""
    import re

    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return script_from_mapping(yaml.load(text, Loader=_Loader))
