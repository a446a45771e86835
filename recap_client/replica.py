"""A device's replica: the CRDT replica plus what only a client has — an outbox of edits the
server has not acknowledged, the clock offset learned from the server, the bootstrap
watermark, and the last conflict id seen. Optionally durable in a JSON file (written
atomically on every change), so a killed process loses nothing it accepted."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from crdt.hlc import Clock, recv, send
from crdt.merge import Register, merge_field
from crdt.merkle import FlatTrie
from crdt.message import Message, Scalar
from crdt.replica import ApplyResult, Replica
from crdt.timestamp import Timestamp


def wall_ms() -> int:
    """The machine's clock, in epoch milliseconds."""
    return int(time.time() * 1000)


class ClientReplica(Replica):
    def __init__(
        self, node: str | None = None, path: Path | None = None, now: Callable[[], int] = wall_ms
    ) -> None:
        super().__init__(node or secrets.token_hex(8))
        self.path = path
        #: Physical time in epoch ms: the machine's clock, or a pinned one (the recorded
        #: exchanges, tests/vectors/exchanges.json, replay under the clock they were made at).
        self.physical_ms = now
        self.outbox: dict[str, Message] = {}
        self.offset_ms = 0
        self.snapshot_seq = 0
        #: The server sequence up to which this replica holds every message: each sync
        #: pulls what came after it (DESIGN.md, "Incremental pull").
        self.pulled_through = 0
        self.conflicts_after = 0
        self.conflicts: list[dict[str, Any]] = []

    def renew_node(self, node: str | None = None) -> None:
        """Start over as a new replica: a fresh node id (`node`, else random) and clock.
        Only an empty replica may (a bootstrap's first step): its edits must keep the node
        that made them."""
        if self.log or self.outbox:
            raise ValueError("only an empty replica takes a new node id")
        self.clock = Clock.new(node or secrets.token_hex(8))

    # -- time -------------------------------------------------------------------------
    def now_ms(self) -> int:
        """Physical time corrected by the offset the server's clock taught us."""
        return self.physical_ms() + self.offset_ms

    # -- edits ------------------------------------------------------------------------
    def edit_field(self, dataset: str, row: str, column: str, value: Scalar) -> Message:
        message = self.edit(dataset, row, column, value, self.now_ms())
        self.outbox[message.timestamp] = message
        self.save()
        return message

    def edit_row(self, dataset: str, row: str, fields: dict[str, Scalar]) -> list[Message]:
        out = []
        for column, value in fields.items():
            message = self.edit(dataset, row, column, value, self.now_ms())
            self.outbox[message.timestamp] = message
            out.append(message)
        self.save()
        return out

    def restamp_outbox(self, after: str | None = None) -> None:
        """Give every unacknowledged edit a fresh timestamp from the corrected clock.

        Only for edits no one has seen (the server refused their request: for clock drift,
        or because one of their stamps, `after`, already names another message): they are
        withdrawn and made again, in their original order, after everything this replica
        has seen and after `after`."""
        old = sorted(self.outbox.values(), key=lambda m: m.timestamp)
        self.outbox.clear()
        self._withdraw(old)
        seen = [
            *self.log,
            *(r.timestamp for regs in self.registers.values() for r in regs.values()),
            *([after] if after else []),
        ]
        self.clock = Clock.new(self.node)
        if seen:
            self.clock = Clock(_bump(max(seen), self.node))
        for m in old:
            self.clock, ts = send(self.clock, self.now_ms())
            current = self.register(m.dataset, m.row, m.column)
            fresh = Message(
                m.dataset, m.row, m.column, m.value, str(ts), current.timestamp if current else None
            )
            self.apply([fresh])
            self.outbox[fresh.timestamp] = fresh
        self.save()

    def _withdraw(self, messages: list[Message]) -> None:
        """Take never-sent edits back out of the log, the trie, and the registers they won;
        those fields are re-merged from what remains (other registers, e.g. adopted from a
        snapshot, stay as they are)."""
        gone = {m.timestamp for m in messages}
        for ts in gone:
            del self.log[ts]
        self._sorted = None
        self.trie.remove_many(gone)
        touched = {m.field for m in messages}
        remaining: dict[tuple[str, str, str], list[Message]] = {}
        for m in self.log.values():
            if m.field in touched:
                remaining.setdefault(m.field, []).append(m)
        for dataset, row, column in touched:
            regs = self.registers.get((dataset, row), {})
            reg = regs.get(column)
            if reg is None or reg.timestamp not in gone:
                continue
            final, _, _ = merge_field(None, remaining.get((dataset, row, column), []))
            if final is None:
                del regs[column]
            else:
                regs[column] = final

    # -- remote -----------------------------------------------------------------------
    def receive_remote(self, items: list[dict[str, Any]]) -> ApplyResult:
        messages = [Message.from_json({k: v for k, v in i.items() if k != "seq"}) for i in items]
        horizon = self.snapshot_seq
        seqs = {i["timestamp"]: i.get("seq", 0) for i in items}

        def counted(m: Message) -> bool:
            return bool(horizon) and 0 < seqs.get(m.timestamp, 0) <= horizon

        if messages:  # our own node's too: a reused node id must not stamp them again
            newest = Timestamp.parse(max(m.timestamp for m in messages))
            self.clock = recv(self.clock, newest, self.now_ms())
        return self.apply(messages, counted=counted)

    def adopt_snapshot_rows(self, dataset: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Take the rows' registers, and move the clock past every adopted timestamp (a
        device whose clock is behind must still stamp its next edit after what it saw)."""
        newest = ""
        fields = [(column, 1 + 2 * i) for i, column in enumerate(columns)]
        registers = self.registers
        for row in rows:
            key = (dataset, row[0])
            regs = registers.get(key)
            if regs is None:  # a new row (every row, on a first bootstrap): no merge
                registers[key] = {
                    column: Register(row[i], row[i + 1])
                    for column, i in fields
                    if row[i + 1] is not None
                }
            else:
                for column, i in fields:
                    value, ts = row[i], row[i + 1]
                    if ts is not None and (column not in regs or regs[column].timestamp < ts):
                        regs[column] = Register(value, ts)
            for _, i in fields:
                ts = row[i + 1]
                if ts is not None and ts > newest:
                    newest = ts
        if newest:
            seen = Timestamp.parse(newest)
            if (seen.millis, seen.counter) > (self.clock.last.millis, self.clock.last.counter):
                self.clock = Clock(Timestamp(seen.millis, seen.counter, self.node))

    def adopt_snapshot_trie(self, nodes: list[list[Any]], seq: int) -> None:
        trie = FlatTrie()
        trie.nodes = {path: [h, c] for path, h, c in nodes}
        self.trie = trie
        self.snapshot_seq = seq
        self.pulled_through = max(self.pulled_through, seq)

    # -- durability -------------------------------------------------------------------
    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "clock": self.clock.to_json(),
            "log": [m.to_json() for m in self.log.values()],
            "registers": [
                [ds, row, col, reg.value, reg.timestamp]
                for (ds, row), regs in self.registers.items()
                for col, reg in regs.items()
            ],
            "trie": [[p, h, c] for p, (h, c) in self.trie.nodes.items()],
            "outbox": list(self.outbox),
            "offset_ms": self.offset_ms,
            "snapshot_seq": self.snapshot_seq,
            "pulled_through": self.pulled_through,
            "conflicts_after": self.conflicts_after,
            "conflicts": self.conflicts,
        }
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, path: Path) -> ClientReplica:
        if not path.exists():
            replica = cls(path=path)
            replica.save()
            return replica
        data = orjson.loads(path.read_bytes())
        clock = Clock.from_json(data["clock"])
        replica = cls(clock.node, path)
        replica.clock = clock
        for item in data["log"]:
            m = Message.from_json(item)
            replica.log[m.timestamp] = m
        for ds, row, col, value, ts in data["registers"]:
            replica.registers.setdefault((ds, row), {})[col] = Register(value, ts)
        for p, h, c in data["trie"]:
            replica.trie.nodes[p] = [h, c]
        replica.outbox = {ts: replica.log[ts] for ts in data["outbox"]}
        replica.offset_ms = data["offset_ms"]
        replica.snapshot_seq = data["snapshot_seq"]
        replica.pulled_through = data.get("pulled_through", 0)
        replica.conflicts_after = data["conflicts_after"]
        replica.conflicts = data["conflicts"]
        return replica


def _bump(newest: str, node: str) -> Any:
    from crdt.timestamp import Timestamp

    ts = Timestamp.parse(newest)
    return Timestamp(ts.millis, ts.counter, node)
