"""Messages, schema validation, LWW merge, tombstones and conflict reports."""

from __future__ import annotations

import pytest

from crdt import InvalidMessage, Message, Register, Replica, merge_field, schema
from crdt.merge import classify
from crdt.message import decode, encode
from crdt.timestamp import Timestamp

A, B, C = "a" * 16, "b" * 16, "c" * 16
T0 = 1795413600000
ROW = "0190f2a4-7d1c-7b3e-8a4f-2b6c1d9e0f11"


def stamp(offset: int, node: str, counter: int = 0) -> str:
    return str(Timestamp(T0 + offset, counter, node))


def msg(col: str, value: object, offset: int, node: str, prev: str | None = None) -> Message:
    return Message("pre_order_flows", ROW, col, value, stamp(offset, node), prev)  # type: ignore[arg-type]


def test_message_json_roundtrip() -> None:
    m = msg("quantity", 3, 0, A, prev=stamp(-5, B))
    assert decode(encode([m])) == [m]
    assert "prev" not in msg("quantity", 3, 0, A).to_json()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[", "not valid JSON"),
        (b"{}", "JSON array"),
        (b"[1]", "JSON object"),
        (b'[{"dataset":"Pre","row":"r","column":"c","value":1,"timestamp":"x"}]', "identifier"),
        (b'[{"dataset":"p","row":"","column":"c","value":1,"timestamp":"x"}]', "row"),
        (b'[{"dataset":"p","row":"r","column":"c","timestamp":"x"}]', "value is required"),
        (b'[{"dataset":"p","row":"r","column":"c","value":[1],"timestamp":"x"}]', "scalar"),
        (b'[{"dataset":"p","row":"r","column":"c","value":{"a":1},"timestamp":"x"}]', "scalar"),
        (b'[{"dataset":"p","row":"r","column":"c","value":1,"timestamp":"nope"}]', "timestamp"),
        (b'[{"dataset":"p","row":"r","column":"c","value":1e400,"timestamp":"x"}]', "JSON"),
        (b'[{"dataset":"p","row":"r","column":"c","value":1,"timestamp":"x","evil":1}]', "unknown"),
    ],
)
def test_decode_rejects_malformed_messages(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        decode(payload)


def test_decode_rejects_timestamps_outside_the_trie_key_range() -> None:
    for ts in (
        "1990-01-01T00:00:00.000Z-0000-aaaaaaaaaaaaaaaa",
        "2060-01-01T00:00:00.000Z-0000-aaaaaaaaaaaaaaaa",
    ):
        with pytest.raises(InvalidMessage, match="outside"):
            Message.from_json(
                {"dataset": "p", "row": "r", "column": "c", "value": 1, "timestamp": ts}
            )


def test_decode_rejects_huge_strings_and_integers() -> None:
    with pytest.raises(InvalidMessage, match="longer"):
        Message.from_json(
            {
                "dataset": "p",
                "row": "r",
                "column": "c",
                "value": "x" * 300_000,
                "timestamp": stamp(0, A),
            }
        )
    with pytest.raises(InvalidMessage, match="exact range"):
        Message.from_json(
            {"dataset": "p", "row": "r", "column": "c", "value": 2**60, "timestamp": stamp(0, A)}
        )


@pytest.mark.parametrize(
    ("dataset", "column", "value", "ok"),
    [
        ("pre_orders", "status", "pending", True),
        ("pre_orders", "status", "draft", False),
        ("pre_orders", "delivery_date", "2026-11-24", True),
        ("pre_orders", "delivery_date", "2026-02-30", False),
        ("pre_orders", "partner_id", ROW, True),
        ("pre_orders", "partner_id", ROW.upper(), False),
        ("pre_order_flows", "quantity", 12.5, True),
        ("pre_order_flows", "quantity", -1, False),
        ("pre_order_flows", "quantity", True, False),
        ("pre_order_flows", "weight", "3", False),
        ("pre_order_flows", "tombstone", 1, True),
        ("pre_order_flows", "tombstone", 2, False),
        ("pre_order_flows", "tombstone", None, False),
        ("profiles", "email", "rep@example.com", True),
        ("profiles", "email", "not-an-email", False),
        ("profiles", "avatar", "data:image/webp;base64,AAAA", True),
        ("profiles", "avatar", "https://evil.example/x.png", False),
        ("nope", "status", "pending", False),
        ("pre_orders", "nope", "pending", False),
    ],
)
def test_schema_validation(dataset: str, column: str, value: object, ok: bool) -> None:
    m = Message(dataset, ROW, column, value, stamp(0, A))  # type: ignore[arg-type]
    if ok:
        schema.validate(m)
    else:
        with pytest.raises(InvalidMessage):
            schema.validate(m)


def test_schema_rejects_non_uuid_rows() -> None:
    with pytest.raises(InvalidMessage, match="UUID"):
        schema.validate(Message("pre_orders", "row-1", "status", "pending", stamp(0, A)))


def test_latest_timestamp_wins_in_any_order() -> None:
    msgs = [msg("quantity", 1, 10, A), msg("quantity", 2, 30, B), msg("quantity", 3, 20, C)]
    for order in (msgs, list(reversed(msgs)), [msgs[1], msgs[0], msgs[2]]):
        final, _, _ = merge_field(None, order)
        assert final is not None and final.value == 2


def test_same_message_twice_changes_nothing() -> None:
    r = Replica(C)
    m = msg("quantity", 5, 0, A)
    first = r.apply([m])
    second = r.apply([m, m])
    assert first.inserted == [m] and second.inserted == [] and second.applied == []
    assert r.state() == {("pre_order_flows", ROW, "quantity"): (5, m.timestamp)}


def test_older_message_is_stored_but_not_applied() -> None:
    r = Replica(C)
    r.apply([msg("quantity", 5, 100, A)])
    late = msg("quantity", 1, 50, B)
    result = r.apply([late])
    assert result.inserted == [late] and result.applied == []
    assert late.timestamp in r.log
    assert r.rows("pre_order_flows")[ROW]["quantity"] == 5


def test_delete_wins_over_a_concurrent_edit_of_another_field() -> None:
    delete = msg("tombstone", 1, 10, A)
    edit = msg("quantity", 9, 20, B)  # later, but on another field
    for order in ([delete, edit], [edit, delete]):
        r = Replica(C)
        for m in order:
            r.apply([m])
        assert ROW not in r.rows("pre_order_flows")


def test_only_a_later_tombstone_write_resurrects() -> None:
    r = Replica(C)
    r.apply([msg("quantity", 1, 0, A), msg("tombstone", 1, 10, A), msg("quantity", 2, 20, B)])
    assert ROW not in r.rows("pre_order_flows")
    r.apply([msg("tombstone", 0, 30, B)])
    assert r.rows("pre_order_flows")[ROW] == {"quantity": 2}


def test_superseded_conflict_names_winner_and_loser() -> None:
    winner = msg("quantity", 7, 100, B)
    loser = msg("quantity", 3, 50, A)
    c = classify(loser, Register(7, winner.timestamp))
    assert c is not None and c.kind == "superseded"
    assert c.winner.value == 7 and c.loser.value == 3 and c.loser.node == A


def test_overwrite_without_seeing_the_old_value_is_a_conflict() -> None:
    old = msg("quantity", 3, 50, A)
    blind = msg("quantity", 7, 100, B, prev=None)
    seen = msg("quantity", 8, 100, C, prev=old.timestamp)
    c = classify(blind, Register(3, old.timestamp))
    assert c is not None and c.kind == "overwrote" and c.loser.value == 3
    assert classify(seen, Register(3, old.timestamp)) is None


def test_own_edits_and_late_sequential_edits_are_not_conflicts() -> None:
    first = msg("quantity", 1, 10, A)
    second = msg("quantity", 2, 20, A)
    assert classify(second, Register(1, first.timestamp)) is None
    # B replaced A's value having seen it; A's value arrives late somewhere: not a conflict.
    b = msg("quantity", 3, 30, B, prev=first.timestamp)
    assert classify(first, Register(3, b.timestamp, b.prev)) is None


def test_replica_reports_conflicts_of_a_concurrent_batch() -> None:
    r = Replica(C)
    r.apply([msg("quantity", 1, 10, A)])
    result = r.apply([msg("quantity", 2, 5, B)])
    assert [c.kind for c in result.conflicts] == ["superseded"]


def test_edit_on_a_deleted_row_is_reported_either_way_round() -> None:
    delete = msg("tombstone", 1, 10, A)
    edit = msg("quantity", 9, 20, B)
    r1 = Replica(C)
    r1.apply([delete])
    assert [c.kind for c in r1.apply([edit]).conflicts] == ["deleted"]
    r2 = Replica(C)
    r2.apply([edit])
    conflicts = r2.apply([delete]).conflicts
    assert [c.kind for c in conflicts] == ["deleted"]
    assert conflicts[0].loser.value == 9 and conflicts[0].winner.node == A


def test_edit_stamps_prev_from_the_current_value() -> None:
    r = Replica(A)
    m1 = r.edit("pre_order_flows", ROW, "quantity", 1, T0)
    m2 = r.edit("pre_order_flows", ROW, "quantity", 2, T0)
    assert m1.prev is None and m2.prev == m1.timestamp
    assert m2.timestamp > m1.timestamp


def test_values_must_be_storable() -> None:
    with pytest.raises(InvalidMessage, match="NUL"):
        Message.from_json(
            {"dataset": "p", "row": "r", "column": "c", "value": "a\x00b", "timestamp": stamp(0, A)}
        )
    for column in ("tombstone", "quantity"):
        with pytest.raises(InvalidMessage, match="boolean"):
            schema.validate(Message("pre_order_flows", ROW, column, True, stamp(0, A)))
