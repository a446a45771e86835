"""An in-memory replica: state, message log, clock and merkle trie under the merge rules.

The property tests run many of these against each other; the server's storage layer applies
the same `merge_field` / `deletion_conflicts` rules set-wise in SQL-backed batches, and the
sync protocol (`crdt.reconcile`) reconciles any two of them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .hlc import Clock, recv, send
from .merge import TOMBSTONE, Conflict, Register, merge_batch
from .merkle import FlatTrie
from .message import Message, Scalar
from .timestamp import Timestamp, min_timestamp_at


@dataclass
class ApplyResult:
    inserted: list[Message] = field(default_factory=list)
    applied: list[Message] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


class Replica:
    def __init__(self, node: str, clock: Clock | None = None) -> None:
        self.clock = clock or Clock.new(node)
        self.log: dict[str, Message] = {}
        self.registers: dict[tuple[str, str], dict[str, Register]] = {}
        self.trie = FlatTrie()
        self._sorted: list[str] | None = None

    @property
    def node(self) -> str:
        return self.clock.node

    def register(self, dataset: str, row: str, column: str) -> Register | None:
        return self.registers.get((dataset, row), {}).get(column)

    def edit(self, dataset: str, row: str, column: str, value: Scalar, now_ms: int) -> Message:
        """A local edit: stamp it once (a replay must be the same message) and apply it."""
        self.clock, ts = send(self.clock, now_ms)
        current = self.register(dataset, row, column)
        prev = current.timestamp if current else None
        message = Message(dataset, row, column, value, str(ts), prev)
        self.apply([message])
        return message

    def receive(self, messages: Iterable[Message], now_ms: int) -> ApplyResult:
        """Remote messages: advance the clock past the newest, then apply."""
        batch = list(messages)
        newest = max((m.timestamp for m in batch), default=None)
        if newest is not None:
            self.clock = recv(self.clock, Timestamp.parse(newest), now_ms)
        return self.apply(batch)

    def apply(
        self, messages: Iterable[Message], counted: Callable[[Message], bool] | None = None
    ) -> ApplyResult:
        """Store and merge messages. `counted` says which messages the trie already holds
        although the log does not (a trie adopted from a bootstrap snapshot)."""
        result = ApplyResult()
        for m in messages:
            if m.timestamp not in self.log:
                self.log[m.timestamp] = m
                result.inserted.append(m)
                self._sorted = None
        self.trie.insert_many(
            m.timestamp for m in result.inserted if counted is None or not counted(m)
        )
        merged = merge_batch(self.registers, result.inserted)
        for (dataset, row, column), reg in merged.changed.items():
            self.registers.setdefault((dataset, row), {})[column] = reg
        result.applied = merged.applied
        result.conflicts = merged.conflicts
        return result

    def rows(self, dataset: str) -> dict[str, dict[str, Scalar]]:
        """Live rows of a dataset (a row whose tombstone is 1 is gone)."""
        out: dict[str, dict[str, Scalar]] = {}
        for (ds, row), regs in self.registers.items():
            if ds != dataset:
                continue
            tomb = regs.get(TOMBSTONE)
            if tomb is not None and tomb.value == 1:
                continue
            out[row] = {c: r.value for c, r in regs.items() if c != TOMBSTONE}
        return out

    def state(self) -> dict[tuple[str, str, str], tuple[Scalar, str]]:
        """Every register's value and timestamp: equal on two replicas iff they converged."""
        return {
            (ds, row, col): (reg.value, reg.timestamp)
            for (ds, row), regs in self.registers.items()
            for col, reg in regs.items()
        }

    def messages_in(self, start_ms: int, end_ms: int) -> list[Message]:
        """Messages stamped in [start_ms, end_ms), in timestamp order."""
        if self._sorted is None:
            self._sorted = sorted(self.log)
        lo = bisect.bisect_left(self._sorted, min_timestamp_at(start_ms))
        hi = bisect.bisect_left(self._sorted, min_timestamp_at(end_ms))
        return [self.log[ts] for ts in self._sorted[lo:hi]]
