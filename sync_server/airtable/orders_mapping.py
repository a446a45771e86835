"""Pure translation for the connector's "orders" mode (seed 002; no I/O).

One Airtable record is one order: `Order ID` (unique text), `Customer` (text: a partner by
name), `Status` (Pending/Processing/Shipped/Delivered/Cancelled: Recap's statuses in title
case), `Order Total` (a number in currency units; Recap keeps cents, round(x * 100)),
`Created At` and `Updated At` (datetimes), `Priority` (Low/Medium/High). Airtable is the
source of truth: every record is imported; Recap writes back only status and priority.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from crdt.schema import MONEY_MAX, PRIORITIES

from .mapping import Value, format_time, parse_time

#: logical field -> default Airtable column name (the document's table)
ORDERS_FIELD_MAP: dict[str, str] = {
    "order": "Order ID",
    "partner": "Customer",
    "status": "Status",
    "total": "Order Total",
    "created": "Created At",
    "modified": "Updated At",
    "priority": "Priority",
}
#: the fields a record brings into Recap (its modification time only stamps them)
ORDER_RECORD_FIELDS = ("order", "partner", "status", "total", "created", "priority")
#: the fields Recap writes back
WRITE_BACK = ("status", "priority")
#: Recap's statuses that Airtable's Status select holds
AIRTABLE_STATUSES = ("pending", "processing", "shipped", "delivered", "cancelled")


@dataclass
class OrderRecord:
    record_id: str
    modified_ms: int
    values: dict[str, Value]
    problems: list[str] = field(default_factory=list)


def cents(amount: float) -> int:
    """Currency units to cents: round(x * 100)."""
    return round(amount * 100)


def _datetime_ms(raw: Any) -> int | None:
    """An Airtable datetime cell (ISO-8601, any offset; a bare date is midnight UTC) as
    epoch milliseconds, None if it is none."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        moment = datetime.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    if not 2000 <= moment.astimezone(datetime.UTC).year <= 2099:
        return None
    return int(moment.timestamp() * 1000)


def _select(raw: Any) -> str | None:
    if isinstance(raw, dict) and "name" in raw:
        raw = raw["name"]
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def read_order_record(record: dict[str, Any], field_map: dict[str, str]) -> OrderRecord:
    """A record as Recap values: `order` (text), `partner` (the customer's name), `status`
    and `priority` (lower case), `total` (cents), `created` (Recap's datetime form). A cell
    Recap cannot accept is a problem (reported in the run) and left out; the record's
    modification time is `Updated At`, else its creation time."""
    cells = record.get("fields") or {}
    record_id = str(record.get("id", ""))
    created_time = str(record.get("createdTime", ""))
    modified = _datetime_ms(cells.get(field_map["modified"]))
    if modified is None:
        try:
            modified = parse_time(created_time)
        except ValueError as exc:
            raise ValueError(f"record {record_id}: no usable modified time ({exc})") from None
    out = OrderRecord(record_id, modified, {})
    for name in ORDER_RECORD_FIELDS:
        raw = cells.get(field_map[name])
        if name in ("order", "partner"):
            text = _select(raw)
            out.values[name] = text[:500] if text else None
        elif name == "status":
            text = _select(raw)
            if text is None:
                out.values[name] = None
            elif text.lower() in AIRTABLE_STATUSES:
                out.values[name] = text.lower()
            else:
                out.problems.append(f"{record_id}: status {text!r} is not one Recap knows")
        elif name == "priority":
            text = _select(raw)
            if text is None:
                out.values[name] = None
            elif text.lower() in PRIORITIES:
                out.values[name] = text.lower()
            else:
                out.problems.append(f"{record_id}: priority {text!r} is not Low/Medium/High")
        elif name == "total":
            if raw is None:
                out.values[name] = None
            elif (
                isinstance(raw, bool)
                or not isinstance(raw, int | float)
                or not 0 <= cents(raw) <= MONEY_MAX
            ):
                out.problems.append(f"{record_id}: order total {raw!r} is not an amount >= 0")
            else:
                out.values[name] = cents(raw)
        else:  # created
            millis = _datetime_ms(raw)
            if millis is None:
                try:
                    millis = parse_time(created_time)
                except ValueError:
                    out.problems.append(f"{record_id}: created at {raw!r} is not a datetime")
                    continue
            out.values[name] = format_time(millis)
    return out


def title(value: str | None) -> str | None:
    """A Recap status or priority as Airtable's select option ('pending' -> 'Pending')."""
    return value.title() if value else None


def write_back_cells(
    values: dict[str, str | None], field_map: dict[str, str], now_ms: int
) -> dict[str, Any]:
    """The cells Recap writes back for changed `status`/`priority` values, with `Updated
    At` set to now (the document's meaning of the column)."""
    cells: dict[str, Any] = {field_map[name]: title(v) for name, v in values.items()}
    cells[field_map["modified"]] = format_time(now_ms)
    return cells
