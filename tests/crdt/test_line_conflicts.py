"""A pre-order's delete hides its lines: the merge reports the line edits it hides
(`crdt.merge.line_conflicts`), whatever the order and batching of delivery."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crdt import Message, Replica
from crdt.merge import LINES, ORDERS, Register, merge_batch
from crdt.timestamp import Timestamp

T0 = 1795413600000
NODES = ["a" * 16, "b" * 16, "c" * 16]
ORDER = "0190f2a4-7d1c-7b3e-8a4f-2b6c1d9e0f00"
LINE_IDS = [f"0190f2a4-7d1c-7b3e-8a4f-2b6c1d9e0f{i:02x}" for i in range(1, 4)]

line_edits = st.lists(
    st.tuples(
        st.integers(0, len(NODES) - 1),
        st.sampled_from(LINE_IDS),
        st.sampled_from(["quantity", "weight"]),
        st.integers(1, 9),
        st.sampled_from([0, 1, 5, 60_000]),
    ),
    min_size=1,
    max_size=25,
)


def history(
    edits: list[tuple[int, str, str, int, int]], deleter: int, at: int
) -> tuple[list[Message], Message]:
    """An order with three lines made by node a, line edits by any node, and the order's
    delete by `deleter`, made after the `at`-th edit."""
    out = [Message(ORDERS, ORDER, "tombstone", 0, str(Timestamp(T0, 0, NODES[0])))]
    for i, line in enumerate(LINE_IDS):
        ts = str(Timestamp(T0 + 1, i, NODES[0]))
        out.append(Message(LINES, line, "pre_order_id", ORDER, ts))
    now, counter = T0 + 2, 0
    delete = None
    for k, (who, line, column, value, gap) in enumerate(edits):
        if k == at:
            counter += 1
            delete = Message(
                ORDERS, ORDER, "tombstone", 1, str(Timestamp(now, counter, NODES[deleter]))
            )
            out.append(delete)
        now += gap
        counter += 1
        out.append(Message(LINES, line, column, value, str(Timestamp(now, counter, NODES[who]))))
    if delete is None:
        delete = Message(ORDERS, ORDER, "tombstone", 1, str(Timestamp(now + 1, 0, NODES[deleter])))
        out.append(delete)
    return out, delete


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=line_edits,
    deleter=st.integers(0, len(NODES) - 1),
    at=st.integers(0, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_line_edit_an_order_delete_hides_is_reported_once(
    edits: list[tuple[int, str, str, int, int]], deleter: int, at: int, seed: int
) -> None:
    messages, delete = history(edits, deleter, at)
    rng = random.Random(seed)
    rng.shuffle(messages)
    replica = Replica("f" * 16)
    reported: list[tuple[str, str, str]] = []
    while messages:
        cut = rng.randint(1, len(messages))
        batch, messages = messages[:cut], messages[cut:]
        for c in replica.apply(batch).conflicts:
            if c.kind == "deleted" and c.dataset == LINES:
                assert c.winner.timestamp == delete.timestamp  # the order's delete hid it
                assert c.loser.node != delete.node  # never the deleter's own edits
                reported.append((c.row, c.column, c.loser.timestamp))
    assert len(reported) == len(set(reported))  # once
    # Every edit that stands in its register, by another node, made after the delete (its
    # writer had not seen it) is reported, whichever arrived first.
    for (dataset, row), regs in replica.registers.items():
        if dataset != LINES:
            continue
        for column, reg in regs.items():
            if reg.node != delete.node and reg.timestamp > delete.timestamp:
                assert (row, column, reg.timestamp) in reported


def test_a_line_deleted_on_its_own_is_left_to_its_own_delete() -> None:
    order = [Message(ORDERS, ORDER, "tombstone", 1, str(Timestamp(T0 + 5, 0, NODES[1])))]
    line = LINE_IDS[0]
    first = merge_batch(
        {},
        [
            Message(LINES, line, "pre_order_id", ORDER, str(Timestamp(T0, 0, NODES[0]))),
            Message(LINES, line, "tombstone", 1, str(Timestamp(T0 + 1, 0, NODES[2]))),
            *order,
        ],
    )
    regs: dict[tuple[str, str], dict[str, Register]] = {}
    for (ds, row, column), reg in first.changed.items():
        regs.setdefault((ds, row), {})[column] = reg
    late = Message(LINES, line, "quantity", 3, str(Timestamp(T0 + 9, 0, NODES[0])))
    kinds = [(c.kind, c.winner.node) for c in merge_batch(regs, [late]).conflicts]
    assert kinds == [("deleted", NODES[2])]  # the line's own delete, not the order's too
