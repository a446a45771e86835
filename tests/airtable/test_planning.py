"""The Airtable bridge's planners on plain data, without a database or a network: what an
import writes for changed records, and what an export asks of Airtable for Recap's
pre-orders (the I/O around them is tested end to end in test_bridge.py)."""

from __future__ import annotations

import uuid
from typing import Any

from crdt.message import Message
from crdt.schema import validate
from crdt.timestamp import Timestamp
from sync_server.airtable.mapping import Line, derived_id, namespace
from sync_server.airtable.planning import (
    ExportInput,
    ImportInput,
    Link,
    plan_export,
    plan_import,
    rows_to_read,
)
from sync_server.clock import ImportStamper

TENANT = "0190a1b2-0000-7000-8000-000000000001"
NS = namespace(TENANT, "appBase", "Orders")
NODE = "00000000000000b1"
T = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def line(record: str, ms: int = T, **values: Any) -> Line:
    cells: dict[str, Any] = {
        "order": "ORD-1",
        "partner": "Nordic Foods",
        "delivery_date": "2026-01-05",
        "status": "pending",
        "product": "Apples",
        "quantity": 12.0,
    }
    cells.update(values)
    return Line(record, ms, "2025-12-31T09:00:00.000Z", cells)


def nothing_known() -> ImportInput:
    return ImportInput(links={}, partners={}, products={}, registers={})


def fields(messages: list[Message]) -> dict[tuple[str, str], Any]:
    """(dataset, column) -> value, for messages about one pre-order and one flow."""
    return {(m.dataset, m.column): m.value for m in messages}


def after(plan_links: dict[str, Link], messages: list[Message]) -> ImportInput:
    """What the next run would read after this plan was carried out."""
    registers: dict[tuple[str, str], dict[str, tuple[Any, str]]] = {}
    for m in messages:
        registers.setdefault((m.dataset, m.row), {})[m.column] = (m.value, m.timestamp)
    partners = {
        str(regs["name"][0]).lower(): row
        for (ds, row), regs in registers.items()
        if ds == "partners" and "name" in regs
    }
    products = {
        str(regs["name"][0]).lower(): row
        for (ds, row), regs in registers.items()
        if ds == "products" and "name" in regs
    }
    return ImportInput(dict(plan_links), partners, products, registers)


# -- import ------------------------------------------------------------------------------
def test_a_new_record_becomes_a_pre_order_a_line_and_the_entities_it_names() -> None:
    plan = plan_import([line("rec1")], nothing_known(), NS, ImportStamper(NODE, None))
    for m in plan.messages:
        validate(m)
    order = derived_id(NS, "order", "ORD-1")
    flow = derived_id(NS, "flow", "rec1")
    partner = derived_id(NS, "partners", "nordic foods")
    product = derived_id(NS, "products", "apples")
    got = {(m.dataset, m.row, m.column): m.value for m in plan.messages}
    assert got == {
        ("pre_orders", order, "created_at"): "2025-12-31T09:00:00.000Z",
        ("pre_orders", order, "tombstone"): 0,
        ("partners", partner, "name"): "Nordic Foods",
        ("partners", partner, "tombstone"): 0,
        ("pre_orders", order, "partner_id"): partner,
        ("pre_orders", order, "delivery_date"): "2026-01-05",
        ("pre_orders", order, "status"): "pending",
        ("products", product, "name"): "Apples",
        ("products", product, "tombstone"): 0,
        ("pre_order_flows", flow, "tombstone"): 0,
        ("pre_order_flows", flow, "pre_order_id"): order,
        ("pre_order_flows", flow, "product_id"): product,
        ("pre_order_flows", flow, "quantity"): 12.0,
    }
    assert plan.imported == 1 and plan.touched == {order}
    link = plan.links["rec1"]
    assert (link.pre_order_id, link.flow_id) == (order, flow)
    stamps = {(m.dataset, m.row, m.column): m.timestamp for m in plan.messages}
    assert link.fields["quantity"] == [12.0, stamps[("pre_order_flows", flow, "quantity")]]
    assert link.fields["status"] == ["pending", stamps[("pre_orders", order, "status")]]


def test_stamps_are_the_bridge_node_s_at_the_record_time_unique_and_ordered() -> None:
    lines = [line("rec2", T, order="A"), line("rec1", T, order="B"), line("rec3", T - 5)]
    plan = plan_import(lines, nothing_known(), NS, ImportStamper(NODE, None))
    stamps = [Timestamp.parse(m.timestamp) for m in plan.messages]
    assert all(s.node == NODE for s in stamps)
    assert [str(s) for s in stamps] == sorted({str(s) for s in stamps})  # unique, increasing
    assert stamps[0].millis == T - 5  # records are planned in modification order
    assert {s.millis for s in stamps} == {T - 5, T}


def test_a_stamper_carries_a_full_counter_into_the_next_millisecond() -> None:
    stamper = ImportStamper(NODE, str(Timestamp(T, 0xFFFF, NODE)))
    assert stamper.stamp(T) == str(Timestamp(T + 1, 0, NODE))
    assert stamper.stamp(T - 1000) == str(Timestamp(T + 1, 1, NODE))


def test_an_unchanged_record_writes_nothing_and_a_changed_cell_writes_one_message() -> None:
    first = plan_import([line("rec1")], nothing_known(), NS, ImportStamper(NODE, None))
    known = after(first.links, first.messages)
    again = plan_import([line("rec1", T + 10)], known, NS, ImportStamper(NODE, None))
    assert again.messages == [] and again.imported == 0

    changed = plan_import(
        [line("rec1", T + 20, quantity=15.0)], known, NS, ImportStamper(NODE, None)
    )
    [message] = changed.messages
    flow = derived_id(NS, "flow", "rec1")
    assert (message.dataset, message.row, message.column, message.value) == (
        "pre_order_flows",
        flow,
        "quantity",
        15.0,
    )
    # `prev` is the register the bridge last synced: a rep's edit since then is a conflict.
    assert message.prev == first.links["rec1"].fields["quantity"][1]
    assert Timestamp.parse(message.timestamp).millis == T + 20


def test_a_value_recap_already_holds_is_not_written_again() -> None:
    first = plan_import([line("rec1")], nothing_known(), NS, ImportStamper(NODE, None))
    known = after(first.links, first.messages)
    order = derived_id(NS, "order", "ORD-1")
    # A rep confirmed the order in Recap; Airtable's cell says the same since.
    known.registers[("pre_orders", order)]["status"] = (
        "confirmed",
        "2026-01-01T00:00:01.000Z-0000-00000000000000a1",
    )
    plan = plan_import(
        [line("rec1", T + 30, status="confirmed")], known, NS, ImportStamper(NODE, None)
    )
    assert plan.messages == [] and plan.imported == 1


def test_emptying_the_product_removes_the_line() -> None:
    first = plan_import([line("rec1")], nothing_known(), NS, ImportStamper(NODE, None))
    known = after(first.links, first.messages)
    plan = plan_import([line("rec1", T + 40, product=None)], known, NS, ImportStamper(NODE, None))
    flow = derived_id(NS, "flow", "rec1")
    assert fields(plan.messages) == {("pre_order_flows", "tombstone"): 1}
    assert plan.messages[0].row == flow
    assert plan.links["rec1"].flow_id is None


def test_known_partners_and_products_are_matched_by_name_not_created() -> None:
    partner, product = str(uuid.uuid4()), str(uuid.uuid4())
    known = ImportInput({}, {"nordic foods": partner}, {"apples": product}, {})
    plan = plan_import([line("rec1")], known, NS, ImportStamper(NODE, None))
    assert not [m for m in plan.messages if m.dataset in ("partners", "products")]
    assert fields(plan.messages)[("pre_orders", "partner_id")] == partner
    assert fields(plan.messages)[("pre_order_flows", "product_id")] == product


def test_rows_to_read_names_every_row_a_record_may_touch() -> None:
    link = Link("rec9", str(uuid.uuid4()), str(uuid.uuid4()), {})
    rows = rows_to_read([line("rec9"), line("rec1")], {"rec9": link}, NS)
    assert ("pre_orders", link.pre_order_id) in rows
    assert ("pre_order_flows", str(link.flow_id)) in rows
    assert ("pre_orders", derived_id(NS, "order", "ORD-1")) in rows
    assert ("pre_order_flows", derived_id(NS, "flow", "rec1")) in rows


# -- export ------------------------------------------------------------------------------
PO = "0190a1b2-0000-7000-8000-0000000000a1"
F1 = "0190a1b2-0000-7000-8000-0000000000f1"
F2 = "0190a1b2-0000-7000-8000-0000000000f2"
TS = "2026-01-01T00:00:00.000Z-0000-00000000000000a1"


def order(tombstone: int = 0, status: str = "pending") -> dict[str, Any]:
    return {
        "id": PO,
        "tombstone": tombstone,
        "partner": "Nordic Foods",
        "partner_id_ts": TS,
        "delivery_date": "2026-01-05",
        "delivery_date_ts": TS,
        "status": status,
        "status_ts": TS,
    }


def flow_line(flow: str, quantity: float, product: str = "Apples") -> dict[str, Any]:
    return {
        "id": flow,
        "pre_order_id": PO,
        "quantity": quantity,
        "quantity_ts": TS,
        "product": product,
        "product_id_ts": TS,
        "pre_order_id_ts": TS,
    }


def synced(record: str, flow: str | None, quantity: float | None, product: str | None) -> Link:
    """A link as the last run left it: Airtable holds exactly these values."""
    cells: dict[str, list[Any]] = {
        "order": ["ORD-1", TS],
        "partner": ["Nordic Foods", TS],
        "delivery_date": ["2026-01-05", TS],
        "status": ["pending", TS],
        "product": [product, TS],
        "quantity": [quantity, TS],
    }
    return Link(record, PO, flow, cells)


def test_lines_without_records_are_created() -> None:
    given = ExportInput({PO: order()}, [flow_line(F1, 3), flow_line(F2, 4)], [], [])
    ops = plan_export([PO], given)
    assert ops.updates == [] and ops.deletes == []
    assert [(link.flow_id, cells["quantity"]) for link, cells in ops.creates] == [(F1, 3), (F2, 4)]
    assert ops.creates[0][1]["order"] == PO  # a pre-order Recap made is keyed by its id


def test_a_changed_cell_is_updated_and_an_unchanged_record_only_relinked() -> None:
    links = [synced("recA", F1, 3.0, "Apples"), synced("recB", F2, 4.0, "Apples")]
    given = ExportInput(
        {PO: order(status="confirmed")}, [flow_line(F1, 3), flow_line(F2, 9)], links, []
    )
    ops = plan_export([PO], given)
    assert ops.creates == [] and ops.deletes == []
    assert {link.record_id: cells for link, cells in ops.updates} == {
        "recA": {"status": "confirmed"},
        "recB": {"status": "confirmed", "quantity": 9.0},
    }


def test_a_deleted_pre_order_deletes_its_records() -> None:
    links = [synced("recA", F1, 3.0, "Apples"), synced("recB", F2, 4.0, "Apples")]
    ops = plan_export([PO], ExportInput({PO: order(tombstone=1)}, [], links, []))
    assert sorted(ops.deletes) == ["recA", "recB"]
    assert ops.creates == [] and ops.updates == []


def test_a_pre_order_without_lines_keeps_one_empty_record() -> None:
    links = [synced("recA", F1, 3.0, "Apples"), synced("recB", F2, 4.0, "Apples")]
    ops = plan_export([PO], ExportInput({PO: order()}, [], links, []))
    [(kept, cells)] = ops.updates
    assert cells == {"product": None, "quantity": None}
    assert kept.flow_id is None
    assert ops.deletes == [next(r for r in ("recA", "recB") if r != kept.record_id)]


def test_a_line_moved_from_another_pre_order_keeps_its_record() -> None:
    elsewhere = Link("recM", "0190a1b2-0000-7000-8000-0000000000a9", F1, {})
    ops = plan_export([PO], ExportInput({PO: order()}, [flow_line(F1, 3)], [], [elsewhere]))
    assert ops.creates == []
    [(link, cells)] = ops.updates
    assert link.record_id == "recM" and link.pre_order_id == PO
    assert cells["quantity"] == 3.0
