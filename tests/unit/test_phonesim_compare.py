"""The per-contact comparison of Obzvon's call record with the phones' ground truth (pure logic).

Events and ground-truth lines are made by hand here, shaped as the dialer publishes them
(obzvon_dialer.events, call.py) and as the simulator writes them (obzvon_phonesim.sim).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from obzvon.v1 import events_pb2
from obzvon_phonesim import compare as cmp
from obzvon_phonesim.__main__ import main as phonesim_main

T = events_pb2.CallEventType
_ids = itertools.count(1)
_clock = itertools.count(1)


def event(attempt: str, number: str, seq: int, type_: events_pb2.CallEventType.ValueType, **kw: Any) -> Any:
    e = events_pb2.CallEvent(
        event_id=f"e{next(_ids)}",
        attempt_id=attempt,
        tenant_id="t",
        campaign_id="c",
        contact_id=f"contact-{number}",
        phone_number=f"+{number}",
        type=type_,
        sequence=seq,
        **kw,
    )
    e.time.FromSeconds(1_700_000_000 + next(_clock))
    return e


def answered(
    attempt: str,
    number: str,
    replies: list[tuple[str, str]] = (),  # type: ignore[assignment]
    *,
    opted_out: bool = False,
    outcome: events_pb2.CallOutcome.ValueType = events_pb2.CALL_OUTCOME_COMPLETED,
) -> list[Any]:
    """An answered call's events: (intent, digits) per reply, as AttemptEvents.reply publishes them."""
    types: list[tuple[events_pb2.CallEventType.ValueType, dict[str, Any]]] = [
        (T.CALL_EVENT_TYPE_DIALING, {}),
        (T.CALL_EVENT_TYPE_RINGING, {"sip_code": 180}),
        (T.CALL_EVENT_TYPE_ANSWERED, {"sip_code": 200}),
        (T.CALL_EVENT_TYPE_NODE_ENTERED, {"node": "greet"}),
        (T.CALL_EVENT_TYPE_NODE_ENTERED, {"node": "confirm"}),
    ]
    for intent, digits in replies:
        if digits:
            types.append((T.CALL_EVENT_TYPE_DTMF, {"node": "confirm", "transcript": digits, "intent": intent}))
        types.append((T.CALL_EVENT_TYPE_REPLY, {"node": "confirm", "transcript": digits or "да", "intent": intent}))
    if opted_out:
        types.append((T.CALL_EVENT_TYPE_OPTED_OUT, {"reason": "opted out in call"}))
    detail = events_pb2.OutcomeDetail(outcome=outcome)
    # A misleading reason on purpose: the comparison must never read it.
    types.append((T.CALL_EVENT_TYPE_COMPLETED, {"outcome": detail, "reason": "yes"}))
    return [event(attempt, number, i, t, **kw) for i, (t, kw) in enumerate(types, start=1)]


def failed(attempt: str, number: str, sip_code: int, *, rang: bool = True) -> list[Any]:
    types: list[tuple[events_pb2.CallEventType.ValueType, dict[str, Any]]] = [(T.CALL_EVENT_TYPE_DIALING, {})]
    if rang:
        types.append((T.CALL_EVENT_TYPE_RINGING, {"sip_code": 180}))
    types.append((T.CALL_EVENT_TYPE_FAILED, {"sip_code": sip_code, "reason": "answered"}))
    return [event(attempt, number, i, t, **kw) for i, (t, kw) in enumerate(types, start=1)]


def phone(
    number: str,
    behaviour: str,
    *,
    answered: bool = True,
    replied: bool = False,
    sip_code: int = 200,
    ended_by: str = "robot",
    ended: bool = True,
) -> list[dict[str, Any]]:
    """The simulator's two lines for one INVITE (only the first while the call is in progress)."""
    call_id = f"call-{next(_ids)}"
    invite = {
        "event": "invite",
        "call_id": call_id,
        "to_number": number,
        "behaviour": behaviour,
        "answered": False,
        "ts": float(next(_clock)),
    }
    end = {**invite, "event": "call_end", "answered": answered, "replied": replied, "sip_code": sip_code}
    end["ended_by"] = ended_by
    return [invite, end] if ended else [invite]


def run(events: list[Any], truth: list[dict[str, Any]], **kw: Any) -> cmp.Comparison:
    return cmp.compare(events, cmp.phone_calls(truth), **kw)


# One contact per behaviour of the simulator, each recorded as Obzvon records it when all goes right.
EVERY_BEHAVIOUR: list[tuple[list[Any], list[dict[str, Any]]]] = [
    (answered("a1", "1001", [("yes", "")]), phone("1001", "yes", replied=True)),
    (answered("a2", "1002", [("no", "")]), phone("1002", "no", replied=True)),
    (answered("a3", "1003", [("yes", "1")]), phone("1003", "press1", replied=True)),
    (answered("a4", "1004", [("no", "2")]), phone("1004", "press2", replied=True)),
    (
        answered("a5", "1005", [("opt_out", "")], opted_out=True, outcome=events_pb2.CALL_OUTCOME_OPTED_OUT),
        phone("1005", "optout", replied=True),
    ),
    (
        answered("a6", "1006", [("opt_out", "9")], opted_out=True, outcome=events_pb2.CALL_OUTCOME_OPTED_OUT),
        phone("1006", "press9", replied=True),
    ),
    (
        answered(
            "a7", "1007", [("no_input", ""), ("no_input", "")], outcome=events_pb2.CALL_OUTCOME_NO_ANSWER_TO_QUESTION
        ),
        phone("1007", "silence"),
    ),
    (
        answered("a8", "1008", outcome=events_pb2.CALL_OUTCOME_CALLEE_HUNG_UP),
        phone("1008", "hangup_early", ended_by="phone"),
    ),
    (failed("a9", "1009", 486, rang=False), phone("1009", "busy", answered=False, sip_code=486)),
    (failed("a10", "1010", 487), phone("1010", "no_answer", answered=False, sip_code=487, ended_by="cancel")),
    (failed("a11", "1011", 480, rang=False), phone("1011", "unreachable", answered=False, sip_code=480)),
    (failed("a12", "1012", 603, rang=False), phone("1012", "decline", answered=False, sip_code=603)),
]


def every_behaviour() -> tuple[list[Any], list[dict[str, Any]]]:
    events = [e for evs, _ in EVERY_BEHAVIOUR for e in evs]
    truth = [r for _, rs in EVERY_BEHAVIOUR for r in rs]
    return events, truth


def test_every_behaviour_recorded_right_matches() -> None:
    result = run(*every_behaviour())
    assert result.differences == []
    assert result.matches_ground_truth
    assert (result.contacts, result.contacts_matching, result.invites, result.attempts_dialed) == (12, 12, 12, 12)


def test_a_duplicate_invite_for_one_attempt_is_a_difference() -> None:
    events, truth = every_behaviour()
    truth += phone("1001", "yes", replied=True)  # a second INVITE reached the phone; Obzvon dialed once
    result = run(events, truth)
    assert not result.matches_ground_truth
    assert [d.as_dict() for d in result.differences] == [
        {"contact": "1001", "what": "invites", "expected": "2 INVITE(s) at the phone", "got": "1 dialed"}
    ]
    assert (result.invites, result.attempts_dialed, result.contacts_matching) == (13, 12, 11)


def test_a_wrong_answer_is_a_difference() -> None:
    events = answered("a1", "1001", [("no", "")])
    result = run(events, phone("1001", "yes", replied=True))
    assert [d.as_dict() for d in result.differences] == [
        {"contact": "1001", "what": "call 1", "expected": "answered: yes by voice", "got": "answered: no by voice"}
    ]


def test_answers_swapped_between_contacts_differ_though_the_totals_agree() -> None:
    # The old totals check (attempts, answered, yes) passes here; per contact both are wrong.
    events = answered("a1", "1001", [("no", "")]) + answered("a2", "1002", [("yes", "")])
    truth = phone("1001", "yes", replied=True) + phone("1002", "no", replied=True)
    result = run(events, truth)
    assert [d.contact for d in result.differences] == ["1001", "1002"]


def test_a_reply_lost_is_no_answer_to_the_question() -> None:
    events = answered("a1", "1001", [("no_input", ""), ("no_input", "")])
    result = run(events, phone("1001", "yes", replied=True))
    assert [(d.expected, d.got) for d in result.differences] == [
        ("answered: yes by voice", "answered: no answer to the question")
    ]


def test_a_keypad_answer_taken_as_speech_is_a_difference() -> None:
    result = run(answered("a1", "1001", [("yes", "")]), phone("1001", "press1", replied=True))
    assert [(d.expected, d.got) for d in result.differences] == [("answered: yes by keypad", "answered: yes by voice")]


def test_the_last_reply_is_the_answer_taken() -> None:
    # Not understood the first time, asked again, understood: the second reply stands.
    events = answered("a1", "1001", [("other", ""), ("yes", "")])
    assert run(events, phone("1001", "yes", replied=True)).matches_ground_truth
    misheard = run(answered("a2", "1002", [("other", "")]), phone("1002", "yes", replied=True))
    assert [d.got for d in misheard.differences] == ["answered: reply not understood (intent other)"]


def test_outcome_class_mismatch_and_480_with_and_without_ringing() -> None:
    # 480 after ringing: the phone gave up ringing (no answer); without ringing: a phone that is off.
    assert run(failed("a1", "1001", 480), phone("1001", "no_answer", answered=False, sip_code=480)).matches_ground_truth
    result = run(failed("a2", "1002", 487), phone("1002", "unreachable", answered=False, sip_code=480))
    assert [(d.expected, d.got) for d in result.differences] == [("unreachable (480)", "no answer (487)")]
    busy_as_answered = run(answered("a3", "1003", [("yes", "")]), phone("1003", "busy", answered=False, sip_code=486))
    assert [d.expected for d in busy_as_answered.differences] == ["busy (486)"]


def test_a_call_the_platform_ended_is_not_taken_for_a_callee_hangup() -> None:
    events = answered("a1", "1001", outcome=events_pb2.CALL_OUTCOME_PROMPT_NOT_READY)
    result = run(events, phone("1001", "yes"))  # the robot hung up before the phone's turn
    assert [(d.expected, d.got) for d in result.differences] == [
        ("answered: no answer to the question", "answered: ended by the platform (prompt_not_ready)")
    ]


def test_attempts_not_dialed_are_not_counted_but_an_invite_without_dialing_is_a_difference() -> None:
    not_dialed = [
        event(
            "a1",
            "1001",
            1,
            T.CALL_EVENT_TYPE_FAILED,
            outcome=events_pb2.OutcomeDetail(outcome=events_pb2.CALL_OUTCOME_NOT_DIALED),
        )
    ]
    assert run(not_dialed, []).matches_ground_truth
    result = run(not_dialed, phone("1001", "yes", replied=True))
    assert [(d.what, d.expected, d.got) for d in result.differences] == [
        ("invites", "1 INVITE(s) at the phone", "0 dialed")
    ]


def test_unfinished_calls_on_either_side() -> None:
    events = answered("a1", "1001", [("yes", "")])[:-1]  # no COMPLETED
    result = run(events, phone("1001", "yes", replied=True))
    assert [d.got for d in result.differences] == ["unfinished"]
    still_ringing = run(failed("a2", "1002", 486), phone("1002", "busy", ended=False))
    assert [d.expected for d in still_ringing.differences] == ["unfinished"]


def test_redelivered_events_count_once_and_calls_pair_in_time_order() -> None:
    first = failed("a1", "1001", 486, rang=False)
    second = answered("a2", "1001", [("yes", "")])
    truth = phone("1001", "busy", answered=False, sip_code=486) + phone("1001", "yes", replied=True)
    result = run(list(reversed(second)) + first + first, truth)
    assert result.matches_ground_truth
    assert (result.invites, result.attempts_dialed) == (2, 2)


def test_numbers_limit_both_sides_and_the_listing_is_bounded() -> None:
    events, truth = every_behaviour()
    truth += phone("2001", "yes", replied=True)  # another campaign's call at a shared simulator
    assert run(events, truth, numbers=[f"+{n}" for n in range(1001, 1013)]).matches_ground_truth
    wrong = [e for e in events if e.phone_number != "+1001"] + answered("x", "1001", [("no", "")])
    wrong += answered("y", "1002", [("yes", "")])[:-1]
    result = run(wrong, truth)
    listed = result.as_dict(limit=2)
    assert listed["matches_ground_truth"] is False
    # 1001: the answer; 1002: two attempts dialed for one INVITE; 2001: rung, never dialed.
    assert [(d.contact, d.what) for d in result.differences] == [
        ("1001", "call 1"),
        ("1002", "invites"),
        ("2001", "invites"),
    ]
    assert listed["differences_total"] == 3
    assert len(listed["differences"]) == 2


def test_cli_reads_events_and_ground_truth_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, truth = every_behaviour()
    cmp.write_events(tmp_path / "events.jsonl", events)
    (tmp_path / "truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in truth))
    argv = ["compare", "--events", str(tmp_path / "events.jsonl"), "--ground-truth", str(tmp_path / "truth.jsonl")]
    with pytest.raises(SystemExit) as exit_:
        phonesim_main(argv)
    assert exit_.value.code == 0
    assert json.loads(capsys.readouterr().out)["contacts_matching"] == 12
    (tmp_path / "truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*truth, *phone("1001", "yes")]))
    with pytest.raises(SystemExit) as exit_:
        phonesim_main(argv)
    assert exit_.value.code == 1
    assert json.loads(capsys.readouterr().out)["differences"][0]["what"] == "invites"
