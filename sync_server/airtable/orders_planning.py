"""What a run in "orders" mode should do, decided without I/O (the lines mode's planners are
in `planning.py`; the link and echo rules are the same).

Import: each changed record is one pre-order (its id derived from the Order ID, or the
linked one), its customer a partner by name (created if Recap has none), and its status,
total, priority and creation time set from the cells Airtable changed since the last sync.
Export: only status and priority, only of pre-orders linked to a record, only where Recap's
value differs from what Airtable holds; Recap never creates or deletes Airtable records in
this mode (Airtable is the source of truth).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ..clock import ImportStamper
from .mapping import Value, order_id
from .orders_mapping import AIRTABLE_STATUSES, ORDER_RECORD_FIELDS, WRITE_BACK, OrderRecord
from .planning import ImportInput, ImportPlan, Link, RowKey, _Importer

#: logical field -> pre_orders column it mirrors (`order` is the key: no register)
COLUMN_OF: dict[str, str] = {
    "partner": "partner_id",
    "status": "status",
    "total": "total_cents",
    "created": "created_at",
    "priority": "priority",
}


def _order_row(record: OrderRecord, link: Link | None, ns: uuid.UUID) -> str:
    if link is not None:
        return link.pre_order_id
    return order_id(ns, str(record.values.get("order") or record.record_id))


def order_rows_to_read(
    records: list[OrderRecord], links: dict[str, Link], ns: uuid.UUID
) -> set[RowKey]:
    return {("pre_orders", _order_row(r, links.get(r.record_id), ns)) for r in records}


def plan_order_import(
    records: list[OrderRecord], given: ImportInput, ns: uuid.UUID, stamper: ImportStamper
) -> ImportPlan:
    """The messages and links that bring Recap up to the changed records, in modification
    order, each cell stamped at its record's modification time with the register the bridge
    last synced as `prev` (a concurrent edit in Recap is a conflict like any other)."""
    importer = _OrderImporter(given, ns, stamper)
    for record in sorted(records, key=lambda r: (r.modified_ms, r.record_id)):
        importer.record(record)
    return importer.plan


class _OrderImporter(_Importer):
    def record(self, record: OrderRecord) -> None:
        link = self.links.get(record.record_id) or self.plan.links.get(record.record_id)
        old = link.fields if link else {}
        changed = {
            name
            for name in ORDER_RECORD_FIELDS
            if name in record.values and (name not in old or old[name][0] != record.values[name])
        }
        if not changed:
            return
        self.plan.imported += 1
        t = record.modified_ms
        po = _order_row(record, link, self.ns)
        if not self.exists("pre_orders", po):
            self.emit("pre_orders", po, "tombstone", 0, None, t)
            changed |= set(COLUMN_OF) & set(record.values)
        for name, column in COLUMN_OF.items():
            value = record.values.get(name)
            if name not in changed or value is None:
                continue
            if name == "partner":
                value = self.entity("partners", self.partners, str(value), t)
            synced = old[name][1] if name in old else None
            self.set_field("pre_orders", po, column, value, synced, t)
        fields: dict[str, list[Any]] = {}
        for name in ORDER_RECORD_FIELDS:
            value = record.values[name] if name in record.values else old.get(name, [None])[0]
            ts = self.current("pre_orders", po, COLUMN_OF[name])[1] if name in COLUMN_OF else None
            fields[name] = [value, ts]
        self.plan.links[record.record_id] = Link(record.record_id, po, None, fields)
        self.plan.touched.add(po)


@dataclass
class OrderExport:
    updates: list[tuple[Link, dict[str, str | None]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def plan_order_export(orders: dict[str, dict[str, Any]], links: list[Link]) -> OrderExport:
    """For each linked pre-order (`orders`: id -> status, priority and their timestamps,
    deleted ones left out), the status and priority Airtable should now hold where they
    differ from what it holds. A status Airtable's select lacks (confirmed, closed) is a
    problem, not a write."""
    out = OrderExport()
    for link in sorted(links, key=lambda lk: lk.record_id):
        order = orders.get(link.pre_order_id)
        if order is None:
            continue
        diff: dict[str, Value] = {}
        for name in WRITE_BACK:
            value = order[name]
            if value is None or link.fields.get(name, [None])[0] == value:
                continue
            if name == "status" and value not in AIRTABLE_STATUSES:
                out.problems.append(
                    f"{link.record_id}: status {value!r} has no option in Airtable; not written"
                )
                continue
            diff[name] = value
        if diff:
            fields = {k: list(v) for k, v in link.fields.items()}
            for name, value in diff.items():
                fields[name] = [value, order[f"{name}_ts"]]
            new = Link(link.record_id, link.pre_order_id, None, fields)
            out.updates.append((new, {k: str(v) for k, v in diff.items()}))
    return out
