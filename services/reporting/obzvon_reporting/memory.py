"""How long reporting remembers an attempt's progress (its dedup mark): as long as a redelivery can come.

A redelivered event comes from Kafka, which keeps call.events (and faust's re-keyed copy) for its
retention period; an attempt nothing touched for longer than that can no longer be redelivered, so
its entry is dropped. `keep_s` must exceed the topics' retention (broker default: 7 days).
Table entries carry the changelog partition they were written under, because faust writes a change
(a deletion too) to the partition of the event being processed: an entry is only dropped while an
event of its own partition is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableMapping
from typing import Any

PARTITION = "_partition"
TOUCHED_NS = "_touched_ns"


def stamped(value: dict[str, Any], partition: int, now_ns: int) -> dict[str, Any]:
    return {**value, PARTITION: partition, TOUCHED_NS: now_ns}


class AttemptMemory:
    """Per changelog partition, the entries in the order they were last touched; old ones are dropped."""

    def __init__(self, table: MutableMapping[str, Any], keep_s: float) -> None:
        self._table = table
        self._keep_ns = int(keep_s * 1e9)
        self._order: dict[int, deque[tuple[int, str]]] = {}

    def reset(self) -> None:
        """After a rebalance: the partitions held may have changed; each is re-read when next touched."""
        self._order.clear()

    def touched(self, partition: int, key: str, now_ns: int) -> list[str]:
        """Records that `key` (already stamped with now_ns) was written; drops the entries of this
        partition untouched for keep_s and returns their keys."""
        order = self._order.get(partition)
        if order is None:
            order = self._order[partition] = deque(
                sorted(
                    (int(v.get(TOUCHED_NS, 0)), k)
                    for k, v in list(self._table.items())
                    if isinstance(v, dict) and v.get(PARTITION) == partition and k != key
                )
            )
        order.append((now_ns, key))
        horizon = now_ns - self._keep_ns
        dropped = []
        while order and order[0][0] < horizon:
            at, old = order.popleft()
            if old in self._table and int(self._table[old].get(TOUCHED_NS, 0)) <= at:
                del self._table[old]
                dropped.append(old)
        return dropped
