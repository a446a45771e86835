"""What a run of the Airtable bridge should do, decided without I/O: the import planner turns
changed records into messages and links, the export planner turns Recap's pre-orders into
record changes. The bridge (`bridge.py`) reads their inputs, calls them, and carries out
the result; the unit tests call them on plain data.

A link remembers, per logical field, the value Airtable had and the timestamp of the Recap
register when the bridge last synced it: a cell is imported only if Airtable changed it
since, and exported only if Recap's value differs from what Airtable holds, so neither side
echoes the other's writes back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crdt.message import Message, Scalar

from ..clock import ImportStamper
from .mapping import LINE_FIELDS, ORDER_FIELDS, Line, Value, derived_id, format_time, order_id

#: logical field -> (dataset, column) of the Recap register it mirrors
REGISTER_OF: dict[str, tuple[str, str]] = {
    "order": ("pre_order_flows", "pre_order_id"),
    "partner": ("pre_orders", "partner_id"),
    "delivery_date": ("pre_orders", "delivery_date"),
    "status": ("pre_orders", "status"),
    "product": ("pre_order_flows", "product_id"),
    "quantity": ("pre_order_flows", "quantity"),
}

RowKey = tuple[str, str]
#: (dataset, row) -> column -> (value, timestamp)
Registers = dict[RowKey, dict[str, tuple[Scalar, str]]]


@dataclass
class Link:
    record_id: str
    pre_order_id: str
    flow_id: str | None
    fields: dict[str, list[Any]]  # logical field -> [Airtable value, Recap register ts]

    def row(self) -> tuple[str, str, str | None, dict[str, list[Any]]]:
        return (self.record_id, self.pre_order_id, self.flow_id, self.fields)


# -- import ------------------------------------------------------------------------------
@dataclass
class ImportInput:
    """What the import planner reads, fetched up front: the links of the changed records,
    live partners and products by lower-cased name (products also by SKU), and the
    registers of every row the records may touch (`rows_to_read`)."""

    links: dict[str, Link]
    partners: dict[str, str]
    products: dict[str, str]
    registers: Registers


@dataclass
class ImportPlan:
    messages: list[Message] = field(default_factory=list)
    links: dict[str, Link] = field(default_factory=dict)  # by record id, as of after the run
    touched: set[str] = field(default_factory=set)  # pre-orders the import wrote
    imported: int = 0  # records that changed something


def rows_to_read(lines: list[Line], links: Mapping[str, Link], ns: uuid.UUID) -> set[RowKey]:
    """The rows whose registers the import of `lines` may read."""
    rows: set[RowKey] = set()
    for line in lines:
        key = line.values.get("order") or line.record_id
        rows.add(("pre_orders", order_id(ns, str(key))))
        rows.add(("pre_order_flows", derived_id(ns, "flow", line.record_id)))
        known = links.get(line.record_id)
        if known:
            rows.add(("pre_orders", known.pre_order_id))
            if known.flow_id:
                rows.add(("pre_order_flows", known.flow_id))
    return rows


def plan_import(
    lines: list[Line], given: ImportInput, ns: uuid.UUID, stamper: ImportStamper
) -> ImportPlan:
    """The messages and links that bring Recap up to the changed records (in modification
    order). Each changed cell becomes a message stamped at the record's modification time,
    whose `prev` is the register the bridge last synced, so a rep's edit since then is a
    conflict like any other."""
    importer = _Importer(given, ns, stamper)
    for line in sorted(lines, key=lambda line: (line.modified_ms, line.record_id)):
        importer.line(line)
    return importer.plan


class _Importer:
    def __init__(self, given: ImportInput, ns: uuid.UUID, stamper: ImportStamper) -> None:
        self.links = given.links
        self.partners = dict(given.partners)
        self.products = dict(given.products)
        self.registers: Registers = {k: dict(v) for k, v in given.registers.items()}
        self.ns = ns
        self.stamper = stamper
        self.plan = ImportPlan()

    def current(self, dataset: str, row: str, column: str) -> tuple[Scalar, str | None]:
        found = self.registers.get((dataset, row), {}).get(column)
        return found if found else (None, None)

    def exists(self, dataset: str, row: str) -> bool:
        return "tombstone" in self.registers.get((dataset, row), {})

    def emit(
        self, dataset: str, row: str, column: str, value: Scalar, prev: str | None, millis: int
    ) -> None:
        stamp = self.stamper.stamp(millis)
        self.plan.messages.append(Message(dataset, row, column, value, stamp, prev))
        self.registers.setdefault((dataset, row), {})[column] = (value, stamp)

    def set_field(
        self,
        dataset: str,
        row: str,
        column: str,
        value: Scalar,
        synced_ts: str | None,
        millis: int,
    ) -> None:
        """Write a value Airtable changed, unless Recap already holds it. `prev` is the
        register the bridge last synced: a rep's edit since then makes this a conflict."""
        held, held_ts = self.current(dataset, row, column)
        if held == value:
            return
        self.emit(dataset, row, column, value, synced_ts or held_ts, millis)

    def entity(self, kind: str, table: dict[str, str], name: str, millis: int) -> str:
        """The partner or product of this name, created if Recap has none."""
        found = table.get(name.lower())
        if found:
            return found
        row = derived_id(self.ns, kind, name.lower())
        table[name.lower()] = row
        if not self.exists(kind, row):
            self.emit(kind, row, "name", name, None, millis)
            self.emit(kind, row, "tombstone", 0, None, millis)
        return row

    def line(self, line: Line) -> None:
        link = self.links.get(line.record_id) or self.plan.links.get(line.record_id)
        old = link.fields if link else {}
        changed = {
            name
            for name in LINE_FIELDS
            if name in line.values and (name not in old or old[name][0] != line.values[name])
        }
        if not changed:
            return
        self.plan.imported += 1
        t = line.modified_ms
        synced = {name: old[name][1] for name in old}
        po = self.order(line, link, changed, old, synced, t)
        flow = self.flow(line, link, po, changed, synced, t)
        fields: dict[str, list[Any]] = {}
        for name in LINE_FIELDS:
            value = line.values.get(name) if name in line.values else old.get(name, [None])[0]
            dataset, column = REGISTER_OF[name]
            row = po if dataset == "pre_orders" else flow
            ts = self.current(dataset, row, column)[1] if row else None
            fields[name] = [value, ts]
        self.plan.links[line.record_id] = Link(line.record_id, po, flow, fields)
        self.plan.touched.add(po)

    def order(
        self,
        line: Line,
        link: Link | None,
        changed: set[str],
        old: dict[str, list[Any]],
        synced: dict[str, str],
        t: int,
    ) -> str:
        """The record's pre-order, created or updated from its order-level cells."""
        order_key = line.values.get("order") or (old.get("order", [None])[0]) or line.record_id
        if link and "order" not in changed:
            po = link.pre_order_id
        else:
            po = order_id(self.ns, str(order_key))
        if not self.exists("pre_orders", po):
            self.emit("pre_orders", po, "created_at", line.created or format_time(t), None, t)
            self.emit("pre_orders", po, "tombstone", 0, None, t)
            changed |= set(ORDER_FIELDS)
        for name in ORDER_FIELDS:
            value = line.values.get(name)
            if name not in changed or value is None:
                continue
            dataset, column = REGISTER_OF[name]
            if name == "partner":
                value = self.entity("partners", self.partners, str(value), t)
            self.set_field(dataset, po, column, value, synced.get(name), t)
        return po

    def flow(
        self,
        line: Line,
        link: Link | None,
        po: str,
        changed: set[str],
        synced: dict[str, str],
        t: int,
    ) -> str | None:
        """The record's line (flow), created, updated or removed; None when it has none."""
        flow = link.flow_id if link else None
        product = line.values.get("product")
        if not product:
            if flow is not None and "product" in changed and "product" in line.values:
                self.set_field("pre_order_flows", flow, "tombstone", 1, None, t)
                return None
            return flow
        product_id = self.entity("products", self.products, str(product), t)
        if flow is None:
            flow = derived_id(self.ns, "flow", line.record_id)
        fresh = (
            not self.exists("pre_order_flows", flow)
            or self.current("pre_order_flows", flow, "tombstone")[0] == 1
        )
        if fresh:
            changed |= {"order", "product", "quantity"}
            self.emit("pre_order_flows", flow, "tombstone", 0, None, t)
        if "order" in changed or link is None:
            self.set_field("pre_order_flows", flow, "pre_order_id", po, synced.get("order"), t)
        if "product" in changed:
            self.set_field(
                "pre_order_flows", flow, "product_id", product_id, synced.get("product"), t
            )
        quantity = line.values.get("quantity")
        if "quantity" in changed and quantity is not None:
            self.set_field("pre_order_flows", flow, "quantity", quantity, synced.get("quantity"), t)
        return flow


# -- export ------------------------------------------------------------------------------
@dataclass
class ExportOps:
    updates: list[tuple[Link, dict[str, Value]]] = field(default_factory=list)
    creates: list[tuple[Link, dict[str, Value]]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    relinks: list[tuple[Link, dict[str, Value]]] = field(default_factory=list)  # no cell changed


#: A record as the export wants it: logical field -> (value, Recap register timestamp)
Wanted = dict[str, tuple[Value, str | None]]


@dataclass
class ExportInput:
    """What the export planner reads: the pre-orders (deleted ones too) by id, their live
    lines, the links of those pre-orders, and the links of those lines (a line may have
    moved here from a pre-order outside the set)."""

    orders: dict[str, dict[str, Any]]
    lines: list[dict[str, Any]]
    order_links: list[Link]
    line_links: list[Link]


def plan_export(ids: list[str], given: ExportInput) -> ExportOps:
    """Each pre-order of `ids` as the records Airtable should hold (one per live line, or
    one empty line), matched against the linked records: changed cells are updated,
    missing records created, records of deleted lines and pre-orders deleted."""
    lines: dict[str, list[dict[str, Any]]] = {po: [] for po in ids}
    for line in given.lines:
        lines[line["pre_order_id"]].append(line)
    own: dict[str, list[Link]] = {po: [] for po in ids}
    by_flow: dict[str, Link] = {}
    for known in given.order_links:
        own[known.pre_order_id].append(known)
        if known.flow_id:
            by_flow[known.flow_id] = known
    for known in given.line_links:
        if known.flow_id and known.flow_id not in by_flow:
            by_flow[known.flow_id] = known

    ops = ExportOps()
    claimed: set[str] = set()
    for po in ids:
        order = given.orders.get(po)
        if order is None or order["tombstone"] == 1:
            ops.deletes += [link.record_id for link in own[po] if link.record_id not in claimed]
            claimed |= {link.record_id for link in own[po]}
            continue
        wanted = _wanted_records(po, order, lines[po], own[po])
        _match(po, wanted, own[po], by_flow, claimed, ops)
    return ops


def _wanted_records(
    po: str, order: dict[str, Any], lines: list[dict[str, Any]], own: list[Link]
) -> list[tuple[str | None, Wanted]]:
    """(flow id, cells) of every record the pre-order should have: one per live line, or
    one with an empty product when it has none. The order key is kept from its records."""
    key = next((str(lk.fields["order"][0]) for lk in own if lk.fields.get("order", [None])[0]), po)
    head: Wanted = {
        "order": (key, None),
        "partner": (order["partner"], order["partner_id_ts"]),
        "delivery_date": (order["delivery_date"], order["delivery_date_ts"]),
        "status": (order["status"], order["status_ts"]),
    }
    wanted: list[tuple[str | None, Wanted]] = []
    for r in lines:
        quantity = float(r["quantity"]) if r["quantity"] is not None else None
        cells: Wanted = {
            **head,
            "order": (key, r["pre_order_id_ts"]),
            "product": (r["product"], r["product_id_ts"]),
            "quantity": (quantity, r["quantity_ts"]),
        }
        wanted.append((r["id"], cells))
    if not wanted:
        wanted.append((None, {**head, "product": (None, None), "quantity": (None, None)}))
    return wanted


def _match(
    po: str,
    wanted: list[tuple[str | None, Wanted]],
    own: list[Link],
    by_flow: dict[str, Link],
    claimed: set[str],
    ops: ExportOps,
) -> None:
    """Give each wanted record a linked record: its line's own, else a spare record of the
    pre-order (empty lines first), else a new one; spare records left over are deleted."""
    flows = {flow for flow, _ in wanted}
    spare = [
        lk
        for lk in own
        if lk.record_id not in claimed and (lk.flow_id is None or lk.flow_id not in flows)
    ]
    spare.sort(key=lambda lk: lk.flow_id is not None)  # reuse empty lines first
    for flow, values in wanted:
        link: Link | None = by_flow.get(flow) if flow else None
        if link is not None and link.record_id in claimed:
            link = None
        if link is None and spare:
            link = spare.pop(0)
        cells = {name: v for name, (v, _) in values.items()}
        if link is None:
            new = Link("", po, flow, {n: [v, ts] for n, (v, ts) in values.items()})
            ops.creates.append((new, cells))
            continue
        claimed.add(link.record_id)
        diff = {n: v for n, v in cells.items() if link.fields.get(n, [object()])[0] != v}
        link.pre_order_id, link.flow_id = po, flow
        link.fields = {n: [v, ts] for n, (v, ts) in values.items()}
        (ops.updates if diff else ops.relinks).append((link, diff))
    for link in spare:
        if link.record_id not in claimed:
            ops.deletes.append(link.record_id)
            claimed.add(link.record_id)
