"""Reporting forgets an attempt's dedup mark only after a redelivery can no longer come."""

from __future__ import annotations

from typing import Any

from obzvon_reporting.memory import AttemptMemory, stamped

S = 1_000_000_000


def test_entries_are_dropped_after_keep_s_untouched_and_only_in_their_own_partition() -> None:
    table: dict[str, Any] = {}
    memory = AttemptMemory(table, keep_s=100)

    def write(partition: int, key: str, at_s: int) -> list[str]:
        table[key] = stamped({"counted_through": 1}, partition, at_s * S)
        return memory.touched(partition, key, at_s * S)

    assert write(0, "a", 0) == []
    assert write(1, "b", 0) == []
    assert write(0, "c", 50) == []
    assert write(0, "a", 60) == []  # touched again: kept from 60 on
    assert write(0, "d", 101) == []  # "a" was touched at 60, "c" at 50: both within 100 s
    assert write(0, "e", 155) == ["c"]
    assert "b" in table  # partition 1 saw no event yet
    assert write(1, "f", 200) == ["b"]
    assert write(0, "g", 400) == ["a", "d", "e"]


def test_after_a_rebalance_the_partition_is_read_back_from_the_table() -> None:
    table: dict[str, Any] = {"old": stamped({}, 3, 0), "other": stamped({}, 4, 0)}
    memory = AttemptMemory(table, keep_s=10)
    memory.reset()
    table["new"] = stamped({}, 3, 20 * S)
    assert memory.touched(3, "new", 20 * S) == ["old"]
    assert set(table) == {"new", "other"}
