"""The connector's "orders" mode (seed 002) on plain data: reading a record of the
document's table, the import plan (one record, one pre-order; Airtable's changes only), and
the export plan (status and priority only, only where they differ, never a create)."""

from __future__ import annotations

from typing import Any

from crdt.schema import validate
from sync_server.airtable.mapping import derived_id, namespace
from sync_server.airtable.orders_mapping import (
    ORDERS_FIELD_MAP,
    cents,
    read_order_record,
    write_back_cells,
)
from sync_server.airtable.orders_planning import plan_order_export, plan_order_import
from sync_server.airtable.planning import ImportInput, Link
from sync_server.clock import ImportStamper

NS = namespace("0190a1b2-0000-7000-8000-000000000001", "appBase", "Orders")
NODE = "00000000000000b1"
T = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def record(**cells: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "Order ID": "ORD-00001",
        "Customer": "Nordic Foods",
        "Status": "Processing",
        "Order Total": 1234.56,
        "Created At": "2025-12-20T10:30:00.000Z",
        "Updated At": "2025-12-21T08:00:00.000Z",
        "Priority": "High",
    }
    fields.update(cells)
    return {"id": "rec1", "createdTime": "2025-12-20T10:30:01.000Z", "fields": fields}


def test_a_record_reads_as_recap_values() -> None:
    r = read_order_record(record(), ORDERS_FIELD_MAP)
    assert r.values == {
        "order": "ORD-00001",
        "partner": "Nordic Foods",
        "status": "processing",
        "total": 123456,
        "created": "2025-12-20T10:30:00.000Z",
        "priority": "high",
    }
    assert r.problems == []
    assert r.modified_ms == 1766304000000  # Updated At


def test_cents_round_and_bad_cells_are_problems_not_values() -> None:
    assert [cents(x) for x in (0.1, 19.99, 1234.56, 5, 0.29)] == [10, 1999, 123456, 500, 29]
    r = read_order_record(
        record(Status="Lost", Priority="Urgent", **{"Order Total": -1}), ORDERS_FIELD_MAP
    )
    assert {"status", "priority", "total"}.isdisjoint(r.values)
    assert len(r.problems) == 3
    r = read_order_record(
        record(Status={"name": "Shipped"}, **{"Order Total": None}), ORDERS_FIELD_MAP
    )
    assert r.values["status"] == "shipped" and r.values["total"] is None


def test_import_creates_one_pre_order_then_only_what_airtable_changed() -> None:
    given = ImportInput(links={}, partners={}, products={}, registers={})
    first = read_order_record(record(), ORDERS_FIELD_MAP)
    plan = plan_order_import([first], given, NS, ImportStamper(NODE, None))
    for m in plan.messages:
        validate(m)
    po = derived_id(NS, "order", "ORD-00001")
    partner = derived_id(NS, "partners", "nordic foods")
    assert {(m.dataset, m.row, m.column): m.value for m in plan.messages} == {
        ("pre_orders", po, "tombstone"): 0,
        ("partners", partner, "name"): "Nordic Foods",
        ("partners", partner, "tombstone"): 0,
        ("pre_orders", po, "partner_id"): partner,
        ("pre_orders", po, "status"): "processing",
        ("pre_orders", po, "total_cents"): 123456,
        ("pre_orders", po, "created_at"): "2025-12-20T10:30:00.000Z",
        ("pre_orders", po, "priority"): "high",
    }
    link = plan.links["rec1"]
    assert link.pre_order_id == po and link.flow_id is None
    # The next run, Airtable changed only the status: one message, prev = the synced one.
    registers: dict[tuple[str, str], dict[str, tuple[Any, str]]] = {}
    for m in plan.messages:
        registers.setdefault((m.dataset, m.row), {})[m.column] = (m.value, m.timestamp)
    again = ImportInput(links={"rec1": link}, partners={}, products={}, registers=registers)
    same = read_order_record(record(), ORDERS_FIELD_MAP)
    assert plan_order_import([same], again, NS, ImportStamper(NODE, None)).messages == []
    changed = read_order_record(record(Status="Shipped"), ORDERS_FIELD_MAP)
    later = plan_order_import([changed], again, NS, ImportStamper(NODE, None)).messages
    assert [(m.column, m.value, m.prev) for m in later] == [
        ("status", "shipped", link.fields["status"][1])
    ]


def test_export_writes_status_and_priority_only_where_they_differ() -> None:
    fields: dict[str, list[Any]] = {
        "order": ["ORD-1", None],
        "status": ["processing", "ts1"],
        "priority": ["low", "ts2"],
        "total": [100, "ts3"],
    }
    links = [
        Link("rec1", "po1", None, {k: list(v) for k, v in fields.items()}),
        Link("rec2", "po2", None, {k: list(v) for k, v in fields.items()}),
        Link("rec3", "po3", None, {k: list(v) for k, v in fields.items()}),
        Link("rec4", "gone", None, {k: list(v) for k, v in fields.items()}),
    ]
    orders = {
        "po1": {"status": "shipped", "status_ts": "ts9", "priority": "low", "priority_ts": "ts2"},
        "po2": {"status": "processing", "status_ts": "ts1", "priority": "low", "priority_ts": "t"},
        "po3": {"status": "closed", "status_ts": "ts8", "priority": "high", "priority_ts": "ts7"},
    }
    out = plan_order_export(orders, links)
    assert [(link.record_id, diff) for link, diff in out.updates] == [
        ("rec1", {"status": "shipped"}),
        ("rec3", {"priority": "high"}),
    ]
    assert out.updates[0][0].fields["status"] == ["shipped", "ts9"]
    assert len(out.problems) == 1 and "closed" in out.problems[0]
    cells = write_back_cells({"status": "shipped"}, ORDERS_FIELD_MAP, T)
    assert cells == {"Status": "Shipped", "Updated At": "2026-01-01T00:00:00.000Z"}
