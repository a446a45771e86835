"""Recap's data model as the merge sees it: which datasets and columns exist, and what
values each column accepts.

The CRDT itself is schema-free (any dataset/row/column); this table is what keeps garbage
out of the log. It is the single source of the data model: the server validates with it
and builds its SQL from it; the TypeScript client (`frontend/src/engine/schema.ts`), the
migrations' tables and the API's enumerations are checked against it by the tests, through
`describe()` and its committed copy `tests/vectors/schema.json`.

Every dataset has `tombstone`: 1 deletes the row, and since it is an ordinary LWW field a
delete concurrent with an edit of another field still deletes the row, and only a later
write of `tombstone = 0` brings it back.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import InvalidMessage
from .message import Message, Scalar

# ASCII digits only (`\d` would also match other scripts' digits); the TypeScript engine
# uses the same patterns, and the shared vectors (tests/vectors/values.json) check both.
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,6})?Z"
)
# Not in an email: "@", controls, and the characters either language calls white space.
_NOT_EMAIL = "@\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
_EMAIL = re.compile(f"[^{_NOT_EMAIL}]{{1,64}}@[^{_NOT_EMAIL}]{{1,255}}\\.[^{_NOT_EMAIL}.]{{1,63}}")

MAX_AVATAR = 200_000
TEXT_MAX = 500
SHORT_TEXT_MAX = 100
QUANTITY_MAX = 1e12
#: Dates (delivery dates) and datetimes (creation times) are real ones inside these years.
YEAR_MIN, YEAR_MAX = 2000, 2099
#: A pre-order's lifecycle (DESIGN.md, "Statuses"): the recap's pending <-> confirmed, then
#: fulfilment; "pending" is the Orders API's "draft". Any value is a valid message (a merge
#: must accept whatever an honest replica wrote); the allowed transitions are enforced on
#: REST writes (`sync_server.services.lifecycle`).
PRE_ORDER_STATUSES = (
    "pending",
    "confirmed",
    "processing",
    "shipped",
    "delivered",
    "closed",
    "cancelled",
)
#: The status changes a REST write may make (a status may also stay as it is). The recap's
#: pending <-> confirmed, the Orders API's draft -> confirmed -> closed, the fulfilment of
#: the Airtable orders (pending -> processing -> shipped -> delivered), and cancelling
#: anything not yet shipped; a cancelled order can be reopened, a closed one is final.
#: Messages from replicas are not held to it: a merge takes whatever an honest replica
#: wrote, concurrently with whatever another did.
STATUS_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("confirmed", "processing", "cancelled"),
    "confirmed": ("pending", "processing", "closed", "cancelled"),
    "processing": ("shipped", "cancelled"),
    "shipped": ("delivered",),
    "delivered": ("closed",),
    "closed": (),
    "cancelled": ("pending",),
}
PRIORITIES = ("low", "medium", "high")
#: A line's own status: open (to deliver), confirmed with the partner, or cancelled (kept
#: for the record, left out of the order's total).
LINE_STATUSES = ("open", "confirmed", "cancelled")
#: Money is integer cents (no float rounding), up to ten billion in the currency.
MONEY_MAX = 1_000_000_000_000


@dataclass(frozen=True, slots=True)
class ColumnType:
    name: str
    sql: str
    check: Callable[[Scalar], bool]
    nullable: bool = True


def _text(limit: int) -> Callable[[Scalar], bool]:
    return lambda v: isinstance(v, str) and len(v) <= limit


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _is_uuid(v: Scalar) -> bool:
    """The canonical (lower-case, hyphenated) spelling: a row id is a key, so one spelling."""
    return isinstance(v, str) and _UUID.fullmatch(v) is not None


def _real_day(year: int, month: int, day: int) -> bool:
    return (
        YEAR_MIN <= year <= YEAR_MAX
        and 1 <= month <= 12
        and 1 <= day <= calendar.monthrange(year, month)[1]
    )


def _is_date(v: Scalar) -> bool:
    """`YYYY-MM-DD`, a real day of a year from YEAR_MIN to YEAR_MAX."""
    found = _DATE.fullmatch(v) if isinstance(v, str) else None
    return found is not None and _real_day(*map(int, found.groups()))


def _is_datetime(v: Scalar) -> bool:
    """`YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (UTC), a real day (as dates) and a real time of
    day: hours 00-23, minutes and seconds 00-59."""
    found = _DATETIME.fullmatch(v) if isinstance(v, str) else None
    if found is None:
        return False
    year, month, day, hour, minute, second = map(int, found.groups()[:6])
    return _real_day(year, month, day) and hour <= 23 and minute <= 59 and second <= 59


def _is_nonneg_number(v: Scalar) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= QUANTITY_MAX


def _is_cents(v: Scalar) -> bool:
    """A whole number of cents from 0 to MONEY_MAX (1234.0 is not one: JSON from an honest
    client writes an integer as such)."""
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MONEY_MAX


TEXT = ColumnType("text", "text", _text(TEXT_MAX))
SHORT_TEXT = ColumnType("short_text", "text", _text(SHORT_TEXT_MAX))
UUID = ColumnType("uuid", "uuid", _is_uuid)
DATE = ColumnType("date", "date", _is_date)
DATETIME = ColumnType("datetime", "text", _is_datetime)
STATUS = ColumnType("status", "text", lambda v: v in PRE_ORDER_STATUSES)
QUANTITY = ColumnType("quantity", "double precision", _is_nonneg_number)
MONEY = ColumnType("money", "bigint", _is_cents)
PRIORITY = ColumnType("priority", "text", lambda v: v in PRIORITIES)
LINE_STATUS = ColumnType("line_status", "text", lambda v: v in LINE_STATUSES)
EMAIL = ColumnType("email", "text", lambda v: isinstance(v, str) and bool(_EMAIL.fullmatch(v)))


def login_email(email: str) -> str:
    """The form a profile's email takes as its user's login email: sign-in compares
    lower-case, so `Bob@Example.com` and `bob@example.com` are one account's."""
    return email.strip().lower()


AVATAR = ColumnType(
    "avatar",
    "text",
    lambda v: isinstance(v, str) and len(v) <= MAX_AVATAR and v.startswith("data:image/"),
)
TOMBSTONE = ColumnType("tombstone", "smallint", lambda v: v in (0, 1) and not isinstance(v, float))

_TYPES = (
    TEXT,
    SHORT_TEXT,
    UUID,
    DATE,
    DATETIME,
    STATUS,
    QUANTITY,
    MONEY,
    PRIORITY,
    LINE_STATUS,
    EMAIL,
    AVATAR,
    TOMBSTONE,
)

DATASETS: dict[str, dict[str, ColumnType]] = {
    "partners": {"name": TEXT, "short_name": SHORT_TEXT, "tombstone": TOMBSTONE},
    "products": {
        "name": TEXT,
        "sku": SHORT_TEXT,
        "unit_weight": QUANTITY,
        "unit_price_cents": MONEY,
        "tombstone": TOMBSTONE,
    },
    "pre_orders": {
        "partner_id": UUID,
        "delivery_date": DATE,
        "status": STATUS,
        "created_at": DATETIME,
        # null: the sum of the live, not cancelled lines' quantity x price
        "total_cents": MONEY,
        "priority": PRIORITY,
        "tombstone": TOMBSTONE,
    },
    "pre_order_flows": {
        "pre_order_id": UUID,
        "product_id": UUID,
        "quantity": QUANTITY,
        "weight": QUANTITY,
        # null: the product's unit price
        "price_cents": MONEY,
        "status": LINE_STATUS,
        "tombstone": TOMBSTONE,
    },
    "profiles": {"name": TEXT, "email": EMAIL, "avatar": AVATAR, "tombstone": TOMBSTONE},
}


def validate(message: Message) -> None:
    """Raise InvalidMessage unless the message names a known field with an allowed value."""
    columns = DATASETS.get(message.dataset)
    if columns is None:
        raise InvalidMessage(f"unknown dataset {message.dataset!r}")
    column = columns.get(message.column)
    if column is None:
        raise InvalidMessage(f"unknown column {message.dataset}.{message.column}")
    if not _is_uuid(message.row):
        raise InvalidMessage(f"row id must be a lower-case UUID: {message.row[:40]!r}")
    if message.value is None:
        if not column.nullable or column is TOMBSTONE:
            raise InvalidMessage(f"{message.dataset}.{message.column} cannot be null")
        return
    if isinstance(message.value, bool):
        # JSON booleans are scalars, but no Recap column holds one (and Python's True == 1
        # would slip through the tombstone check).
        raise InvalidMessage(f"{message.dataset}.{message.column} does not accept a boolean")
    if not column.check(message.value):
        raise InvalidMessage(
            f"invalid value for {message.dataset}.{message.column} ({column.name}): "
            f"{str(message.value)[:60]!r}"
        )


def describe() -> dict[str, object]:
    """The model as plain data: every dataset's columns with their types' names, the
    pre-order statuses, and the bounds the types enforce. Written to
    `tests/vectors/schema.json`, which the TypeScript tests read."""
    return {
        "datasets": {
            dataset: {column: kind.name for column, kind in columns.items()}
            for dataset, columns in DATASETS.items()
        },
        "sql_types": {kind.name: kind.sql for kind in _TYPES},
        "pre_order_statuses": list(PRE_ORDER_STATUSES),
        "status_transitions": {k: list(v) for k, v in STATUS_TRANSITIONS.items()},
        "priorities": list(PRIORITIES),
        "line_statuses": list(LINE_STATUSES),
        "limits": {
            "year_min": YEAR_MIN,
            "year_max": YEAR_MAX,
            "text": TEXT_MAX,
            "short_text": SHORT_TEXT_MAX,
            "avatar": MAX_AVATAR,
            "quantity": QUANTITY_MAX,
            "money": MONEY_MAX,
        },
    }
