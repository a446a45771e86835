"""The merge rule: one last-writer-wins register per (dataset, row, column).

The value with the greatest timestamp wins; a message equal to the current timestamp is the
same message again and changes nothing. That makes applying any set of messages, in any
order, any number of times, end in the same state.

Alongside the state, the merge reports conflicts so the losing side can be told. A conflict
is a concurrent write by another node, judged with the writer's `prev` (the timestamp of the
value it saw when editing):

* `superseded`: the incoming message loses to a current value from another node, and that
  value's writer had not seen the incoming one. HLC order makes this always concurrent: had
  the incoming writer seen the current value, its clock would have been ahead of it.
* `overwrote`: the incoming message wins over a current value from another node that its
  writer had not seen (`prev` differs): the current value's author lost an edit.
* `deleted`: the incoming edit lands on a row another node has tombstoned; delete wins, so
  the edit is invisible even if it won its register. A pre-order's lines go with it: an edit
  of a line whose pre-order another node deleted is lost to that delete too (the conflict
  names the line's field, and the order's tombstone as the winner).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from .message import Message, Scalar
from .timestamp import NODE_LENGTH

TOMBSTONE = "tombstone"
#: A line (flow) belongs to its pre-order through this column: deleting the order hides it.
ORDERS, LINES, PARENT = "pre_orders", "pre_order_flows", "pre_order_id"
#: `reapplied` is never found by the merge: the server records it when a conflict's loser
#: puts their value back, to tell the rep whose value that replaces.
ConflictKind = Literal["superseded", "overwrote", "deleted", "reapplied"]


@dataclass(frozen=True, slots=True)
class Register:
    value: Scalar
    timestamp: str
    prev: str | None = None

    @property
    def node(self) -> str:
        return self.timestamp[-NODE_LENGTH:]


@dataclass(frozen=True, slots=True)
class Conflict:
    """`winner` is the value that stands, `loser` the one that lost (both with timestamps)."""

    kind: ConflictKind
    dataset: str
    row: str
    column: str
    winner: Register
    loser: Register


def register_of(message: Message) -> Register:
    return Register(message.value, message.timestamp, message.prev)


def classify(incoming: Message, current: Register | None) -> Conflict | None:
    """The conflict, if any, between an incoming message and its field's current register."""
    if current is None or current.node == incoming.node or current.timestamp == incoming.timestamp:
        return None
    mine = register_of(incoming)
    if incoming.timestamp < current.timestamp:
        if current.prev == incoming.timestamp:
            return None  # the winner saw this value and replaced it: sequential, just late
        return Conflict("superseded", *incoming.field, winner=current, loser=mine)
    if incoming.prev == current.timestamp:
        return None
    return Conflict("overwrote", *incoming.field, winner=mine, loser=current)


def merge_field(
    current: Register | None, incoming: Iterable[Message]
) -> tuple[Register | None, list[Message], list[Conflict]]:
    """Fold messages for one field into its register.

    Returns the final register, the messages that became the current value along the way
    (in timestamp order), and the conflicts found.
    """
    applied: list[Message] = []
    conflicts: list[Conflict] = []
    for message in sorted(incoming, key=lambda m: m.timestamp):
        conflict = classify(message, current)
        if conflict is not None:
            conflicts.append(conflict)
        if current is None or message.timestamp > current.timestamp:
            current = register_of(message)
            applied.append(message)
    return current, applied, conflicts


def group_by_field(messages: Iterable[Message]) -> dict[tuple[str, str, str], list[Message]]:
    groups: dict[tuple[str, str, str], list[Message]] = defaultdict(list)
    for m in messages:
        groups[m.field].append(m)
    return groups


def deletion_conflicts(
    dataset: str,
    row: str,
    registers: dict[str, Register],
    new_timestamps: set[str],
) -> list[Conflict]:
    """Edits lost to a delete, among the row's registers after a batch.

    Reported once, when the later of the two arrives: an edit newly applied to a row another
    node has deleted, or a new delete over edits from another node stamped after it (the
    deleter's clock was behind them, so it had not seen them).
    """
    tomb = registers.get(TOMBSTONE)
    if tomb is None or tomb.value != 1:
        return []
    out: list[Conflict] = []
    tomb_is_new = tomb.timestamp in new_timestamps
    for column, reg in registers.items():
        if column == TOMBSTONE or reg.node == tomb.node:
            continue
        if reg.timestamp in new_timestamps or (tomb_is_new and reg.timestamp > tomb.timestamp):
            out.append(Conflict("deleted", dataset, row, column, winner=tomb, loser=reg))
    return out


def line_conflicts(
    orders: dict[str, dict[str, Register]],
    lines: dict[str, dict[str, Register]],
    new_timestamps: set[str],
) -> list[Conflict]:
    """Edits of lines lost to their pre-order's delete, among the registers after a batch
    (`orders` and `lines` by id; a line's order is its `pre_order_id`).

    The rule of `deletion_conflicts`, across the parent: reported once, when the later of
    the two arrives: a line edit newly applied under an order another node has deleted, or
    a new delete of an order over line edits from another node stamped after it; a line
    whose link to a deleted order arrives lands with all its edits. A line deleted itself
    is left to `deletion_conflicts` (its own delete hides it already)."""
    out: list[Conflict] = []
    for line, regs in sorted(lines.items()):
        parent = regs.get(PARENT)
        if parent is None or not isinstance(parent.value, str):
            continue
        tomb = orders.get(parent.value, {}).get(TOMBSTONE)
        own = regs.get(TOMBSTONE)
        if tomb is None or tomb.value != 1 or (own is not None and own.value == 1):
            continue
        tomb_is_new = tomb.timestamp in new_timestamps
        # A line whose link to the order arrives now lands under the delete with every edit
        # it holds (none could be told while its order was unknown).
        lands = parent.timestamp in new_timestamps
        for column, reg in sorted(regs.items()):
            if reg.node == tomb.node:
                continue
            if (
                lands
                or reg.timestamp in new_timestamps
                or (tomb_is_new and reg.timestamp > tomb.timestamp)
            ):
                out.append(Conflict("deleted", LINES, line, column, winner=tomb, loser=reg))
    return out


RowKey = tuple[str, str]


def related_rows(
    current: dict[RowKey, dict[str, Register]], inserted: list[Message]
) -> tuple[set[str], set[str]]:
    """What `line_conflicts` needs besides the rows a batch touches: the orders of the
    lines it edits (`parents`), and the orders it deletes, whose lines are needed
    (`deleted`). A store that reads only touched rows reads these too (its `current`)."""
    parents: set[str] = set()
    deleted: set[str] = set()
    for m in inserted:
        if m.dataset == LINES:
            if m.column == PARENT and isinstance(m.value, str):
                parents.add(m.value)
            reg = current.get((LINES, m.row), {}).get(PARENT)
            if reg is not None and isinstance(reg.value, str):
                parents.add(reg.value)
        elif m.dataset == ORDERS and m.column == TOMBSTONE and m.value == 1:
            deleted.add(m.row)
    return parents, deleted


@dataclass
class BatchMerge:
    """The outcome of merging newly stored messages into current registers."""

    changed: dict[tuple[str, str, str], Register] = field(default_factory=dict)
    applied: list[Message] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def merge_batch(current: dict[RowKey, dict[str, Register]], inserted: list[Message]) -> BatchMerge:
    """Merge newly stored messages (never duplicates) into the current registers of the rows
    they touch. `current` is not modified; `changed` holds every register that moved.

    The server runs this on rows it read under a per-tenant lock, the in-memory replica on
    its dicts: one implementation of the rule for both.
    """
    out = BatchMerge()
    new_timestamps = {m.timestamp for m in inserted}
    rows: dict[RowKey, dict[str, Register]] = {}
    for (dataset, row, column), group in group_by_field(inserted).items():
        regs = rows.setdefault((dataset, row), dict(current.get((dataset, row), {})))
        final, applied, conflicts = merge_field(regs.get(column), group)
        if final is not None and applied:
            regs[column] = final
            out.changed[(dataset, row, column)] = final
        out.applied.extend(applied)
        out.conflicts.extend(conflicts)
    for (dataset, row), regs in sorted(rows.items()):
        out.conflicts.extend(deletion_conflicts(dataset, row, regs, new_timestamps))
    out.conflicts.extend(_orphaned(current, rows, new_timestamps))
    return out


def _orphaned(
    current: dict[RowKey, dict[str, Register]],
    rows: dict[RowKey, dict[str, Register]],
    new_timestamps: set[str],
) -> list[Conflict]:
    """`line_conflicts` for the lines a batch touched and the lines of the orders it
    touched, with their orders, as `current` (what the store read) and the batch hold."""
    touched_orders = {row for ds, row in rows if ds == ORDERS}
    touched_lines = {row for ds, row in rows if ds == LINES}

    def regs_of(key: RowKey) -> dict[str, Register]:
        return rows.get(key) or current.get(key, {})

    lines: dict[str, dict[str, Register]] = {row: rows[(LINES, row)] for row in touched_lines}
    deleted = {
        row
        for row in touched_orders
        if (tomb := rows[(ORDERS, row)].get(TOMBSTONE)) is not None
        and tomb.value == 1
        and tomb.timestamp in new_timestamps
    }
    if deleted:  # a new delete: the order's other lines may hold edits it hides
        for (ds, row), regs in current.items():
            parent = regs.get(PARENT)
            if ds == LINES and parent is not None and parent.value in deleted:
                lines.setdefault(row, regs)
    parents = {
        p.value
        for regs in lines.values()
        if (p := regs.get(PARENT)) is not None and isinstance(p.value, str)
    }
    orders = {order: regs_of((ORDERS, order)) for order in parents}
    return line_conflicts(orders, lines, new_timestamps)
