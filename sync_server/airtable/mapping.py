"""Pure translation between an Airtable record and Recap's fields (no I/O).

The table is flat, one record per order line, as small companies keep it: the pre-order's
fields (order key, partner, delivery date, status) repeat on each of its lines, next to the
line's product and quantity. A pre-order with no lines is one record with an empty product.
Partners and products are referred to by name (a product also by SKU).
"""

from __future__ import annotations

import datetime
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from crdt.schema import PRE_ORDER_STATUSES

#: logical field -> default Airtable column name
DEFAULT_FIELD_MAP: dict[str, str] = {
    "order": "Order",
    "partner": "Partner",
    "delivery_date": "Delivery date",
    "status": "Status",
    "product": "Product",
    "quantity": "Quantity",
    "modified": "Last modified",
}
LINE_FIELDS = ("order", "partner", "delivery_date", "status", "product", "quantity")
ORDER_FIELDS = ("partner", "delivery_date", "status")

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
Value = str | float | None


@dataclass
class Line:
    record_id: str
    modified_ms: int
    created: str  # the record's createdTime (ISO), for the pre-order's created_at
    values: dict[str, Value]
    problems: list[str] = field(default_factory=list)


def parse_time(text: str) -> int:
    """Airtable's ISO-8601 UTC time to epoch milliseconds."""
    if not isinstance(text, str) or not _ISO.fullmatch(text):
        raise ValueError(f"not an ISO-8601 UTC time: {text!r}")
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(parsed.timestamp() * 1000)


def format_time(millis: int) -> str:
    moment = datetime.datetime.fromtimestamp(millis / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, dict) and "name" in raw:  # a select cell may come as an object
        raw = raw["name"]
    text = str(raw).replace("\x00", "").strip()
    return text[:500] or None


def read_record(record: dict[str, Any], field_map: dict[str, str]) -> Line:
    """A record as Recap values; a cell Recap cannot accept becomes a problem (reported in
    the run's summary) and is left out, never a partial or invalid edit."""
    cells = record.get("fields") or {}
    record_id = str(record.get("id", ""))
    modified_raw = cells.get(field_map["modified"])
    created = str(record.get("createdTime", ""))
    try:
        modified_ms = parse_time(modified_raw if modified_raw is not None else created)
    except ValueError as exc:
        raise ValueError(f"record {record_id}: no usable modified time ({exc})") from None
    line = Line(record_id, modified_ms, created, {})
    for name in LINE_FIELDS:
        raw = cells.get(field_map[name])
        text = _text(raw)
        if text is None:
            line.values[name] = None
            continue
        value: Value = text
        if name == "status":
            value = text.lower()
            if value not in PRE_ORDER_STATUSES:
                line.problems.append(
                    f"{record_id}: status {value!r} is not one of {PRE_ORDER_STATUSES}"
                )
                continue
        elif name == "delivery_date":
            try:
                value = datetime.date.fromisoformat(text[:10]).isoformat()
            except ValueError:
                line.problems.append(f"{record_id}: delivery date {value!r} is not a date")
                continue
        elif name == "quantity":
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 1e12:
                line.problems.append(f"{record_id}: quantity {raw!r} is not a number >= 0")
                continue
            value = float(raw)
        line.values[name] = value
    return line


def to_cells(values: dict[str, Value], field_map: dict[str, str]) -> dict[str, Any]:
    """Recap values as Airtable cells (None clears a cell)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "quantity" and isinstance(value, float) and value.is_integer():
            out[field_map[name]] = int(value)
        else:
            out[field_map[name]] = value
    return out


def namespace(tenant_id: str, base_id: str, table: str) -> uuid.UUID:
    """Ids of rows the bridge creates derive from Airtable's ids, so a rerun after a crash
    (before the links were saved) names the same rows instead of duplicating them."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"airtable:{tenant_id}:{base_id}:{table}")


def derived_id(ns: uuid.UUID, kind: str, key: str) -> str:
    return str(uuid.uuid5(ns, f"{kind}:{key}"))


def order_id(ns: uuid.UUID, order_key: str) -> str:
    """A record's pre-order: the key itself when it is a Recap id (records the bridge
    exported carry the pre-order's id), else an id derived from the key."""
    try:
        parsed = uuid.UUID(order_key)
    except ValueError:
        return derived_id(ns, "order", order_key)
    return str(parsed)
