"""Digit readings: where a digit-only decoding is taken for a loop and may be cut."""

from __future__ import annotations

import pytest
from obzvon_asr.engine import _repeats


@pytest.mark.parametrize(
    ("head", "rest", "loop"),
    [
        ("5181", "518", True),  # the code again from its start
        ("8955", "555", True),  # its last digit over and over
        ("8767", "676", True),  # its last two digits over and over
        ("6276", "", False),
        ("627", "6", False),  # one digit is not a loop
        ("2956", "31", False),
        ("", "12", False),
    ],
)
def test_repeats(head: str, rest: str, loop: bool) -> None:
    assert _repeats(head, rest) is loop
