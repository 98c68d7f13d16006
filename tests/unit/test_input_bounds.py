"""Bounds on what a tenant sends: error details, script size and the cost of validating a script."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from obzvon.errors import FieldViolation, invalid_argument_status
from obzvon.limits import MAX_ASK_RETRIES, MAX_SCRIPT_NODES, MAX_TEXT_CHARS, ScriptLimits
from obzvon.script import validate_script
from obzvon.v1 import events_pb2, scripts_pb2

# gRPC's default limit on the metadata a client accepts (grpc.max_metadata_size) is 8 KiB; the
# status details travel in the trailer, so they must stay well under it.
TRAILER_BUDGET = 8 * 1024


def chain(n: int) -> scripts_pb2.Script:
    """n say nodes in a row, then a hangup; inserted last-first, the worst order for a fixpoint loop."""
    script = scripts_pb2.Script(start="n0")
    script.nodes[f"n{n}"].hangup.text = ""
    for i in reversed(range(n)):
        script.nodes[f"n{i}"].say.text = "Здравствуйте!"
        script.nodes[f"n{i}"].next = f"n{i + 1}"
    return script


def trailer_bytes(status: Any) -> int:
    return sum(len(k) + len(v) for k, v in status.trailing_metadata) + len(status.details.encode())


def test_fifty_thousand_violations_fit_the_trailer() -> None:
    violations = [FieldViolation(f"contacts[{i}].phone_number", "x" * 5000) for i in range(50_000)]
    status = invalid_argument_status(violations)
    assert trailer_bytes(status) < TRAILER_BUDGET / 2
    assert "50000 problems" in status.details  # type: ignore[attr-defined]


def test_bounded_details_keep_the_first_violations_and_count_the_rest() -> None:
    from google.rpc import error_details_pb2, status_pb2

    violations = [FieldViolation(f"contacts[{i}].phone_number", "not a number") for i in range(1, 51)]
    status = invalid_argument_status(violations)
    raw = dict(status.trailing_metadata)["grpc-status-details-bin"]  # type: ignore[attr-defined]
    detail = status_pb2.Status.FromString(raw).details[0]
    bad = error_details_pb2.BadRequest()
    assert detail.Unpack(bad)
    fields = [v.field for v in bad.field_violations]
    assert fields[:3] == ["contacts[1].phone_number", "contacts[2].phone_number", "contacts[3].phone_number"]
    assert fields[-1] == "(more)" and bad.field_violations[-1].description.startswith("40 more")


def test_a_5000_node_script_validates_in_linear_time() -> None:
    script = chain(5000)
    started = time.perf_counter()
    problems = validate_script(script, limits=ScriptLimits(max_nodes=10_000))
    elapsed = time.perf_counter() - started
    assert problems == []
    assert elapsed < 2.0, f"{elapsed:.2f} s"


def test_a_loop_with_no_exit_is_still_found() -> None:
    script = chain(3)
    script.nodes["n2"].next = "n0"
    del script.nodes["n3"]
    assert {v.field for v in validate_script(script)} == {
        'script.nodes["n0"]',
        'script.nodes["n1"]',
        'script.nodes["n2"]',
    }


def test_script_limits_are_enforced() -> None:
    too_many = validate_script(chain(MAX_SCRIPT_NODES + 1))
    assert [v.field for v in too_many] == ["script.nodes"]
    long_text = chain(2)
    long_text.nodes["n0"].say.text = "а" * (MAX_TEXT_CHARS + 1)
    assert [v.field for v in validate_script(long_text)] == ['script.nodes["n0"].say.text']
    retries = chain(1)
    retries.nodes["q"].ask.CopyFrom(
        scripts_pb2.AskNode(
            text="Вы придёте?", expect=scripts_pb2.EXPECT_YES_NO, on={"yes": "n1", "no": "n1"}, retries=1_000_000
        )
    )
    retries.start = "q"
    del retries.nodes["n0"]
    assert [v.field for v in validate_script(retries)] == ['script.nodes["q"].ask.retries']
    assert MAX_ASK_RETRIES == 5


def test_a_huge_script_is_refused_by_size_before_its_nodes_are_walked() -> None:
    script = chain(10)
    script.nodes["n0"].say.text = "а" * 300_000
    problems = validate_script(script, limits=ScriptLimits(max_text_chars=1_000_000))
    assert [v.field for v in problems] == ["script"]


def test_the_voice_list_the_api_checks_is_the_one_tts_renders() -> None:
    from obzvon.voices import VOICES
    from obzvon_tts.engines import ENGINES

    installed = {f"{name}:{voice}": lang for name, engine in ENGINES.items() for voice, lang in engine.voices().items()}
    assert installed, "no tts engine installed here"
    assert {v: lang for v, lang in installed.items() if VOICES.get(v) != lang} == {}
    assert {v.partition(":")[0] for v in VOICES} <= {"default", *ENGINES}


@settings(max_examples=200, deadline=None)
@given(
    delay=st.integers(0, 7 * 86400),
    profile=st.sampled_from(["default", "us-tcpa", "ru-230fz"]),
    outcome=st.sampled_from(
        [
            events_pb2.CALL_OUTCOME_BUSY,
            events_pb2.CALL_OUTCOME_NO_ANSWER,
            events_pb2.CALL_OUTCOME_DIALER_LOST,
            events_pb2.CALL_OUTCOME_TRUNK_FAILURE,
        ]
    ),
)
def test_a_retry_after_busy_or_no_answer_never_comes_before_the_profiles_minimum(
    delay: int, profile: str, outcome: events_pb2.CallOutcome.ValueType
) -> None:
    from obzvon.compliance import load_profile
    from obzvon.v1 import campaigns_pb2
    from obzvon_scheduler.outcomes import retry_delay_s

    campaign = campaigns_pb2.Campaign(compliance_profile=profile, retry_delay_seconds=delay)
    wait = retry_delay_s(campaign, outcome)
    assert wait >= max(delay, 1)
    if outcome in (events_pb2.CALL_OUTCOME_BUSY, events_pb2.CALL_OUTCOME_NO_ANSWER):
        assert wait >= load_profile(profile).min_retry_delay_seconds
