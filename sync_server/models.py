"""Request and response models of the REST API (and the source of its OpenAPI schemas)."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

from .protocol import SyncRequest

Status = Literal[
    "pending", "confirmed", "processing", "shipped", "delivered", "closed", "cancelled"
]
Priority = Literal["low", "medium", "high"]
LineStatus = Literal["open", "confirmed", "cancelled"]
# Integer cents, strict: 12.5 or "1250" is a 422, never rounded
Cents = Annotated[int, Field(ge=0, le=1_000_000_000_000, strict=True)]
# strict: a JSON number, never a boolean or a numeric string
Quantity = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False, strict=True)]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold U+0000
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NO_NUL)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _omit_not_null(schema: dict[str, Any]) -> None:
    """The documented shape of a PATCH body: any field may be left out, none may be null
    (the handlers refuse null with 422: it would erase a field)."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
        variants = [v for v in prop.pop("anyOf", []) if v.get("type") != "null"]
        if len(variants) == 1:
            prop.update(variants[0])
        elif variants:
            prop["anyOf"] = variants


class Patch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_omit_not_null)


# -- pre-orders and flows ------------------------------------------------------------------
class FlowIn(Strict):
    product_id: uuid.UUID
    quantity: Quantity
    weight: Quantity | None = None
    price_cents: Cents | None = Field(default=None, description="Null: the product's price")
    status: LineStatus = "open"


class FlowPatch(Patch):
    product_id: uuid.UUID | None = None
    quantity: Quantity | None = None
    weight: Quantity | None = None
    price_cents: Cents | None = None
    status: LineStatus | None = None


VERSION = "1 when created, one more with every change the server applies; If-Match takes it"


class Flow(BaseModel):
    id: uuid.UUID
    pre_order_id: uuid.UUID
    product_id: uuid.UUID | None
    product_name: str | None
    sku: str | None
    quantity: float | None
    weight: float | None
    price_cents: int | None = Field(description="The line's price, else its product's")
    status: LineStatus | None
    version: int = Field(description=VERSION)
    updated_at: str | None = Field(description="When the line last changed (UTC)")
    etag: str = Field(description='The version, quoted: "3"')


class PreOrderIn(Strict):
    partner_id: uuid.UUID
    delivery_date: datetime.date
    status: Literal["pending", "confirmed"] = "pending"
    priority: Priority = "medium"
    total_cents: Cents | None = Field(default=None, description="Null: the lines' sum")
    flows: list[FlowIn] = Field(default_factory=list, max_length=100)


class PreOrderPatch(Patch):
    partner_id: uuid.UUID | None = None
    delivery_date: datetime.date | None = None
    status: Status | None = Field(default=None, description="Allowed changes: DESIGN.md")
    priority: Priority | None = None
    total_cents: Cents | None = None


class PreOrder(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID | None
    partner_name: str | None
    delivery_date: datetime.date | None
    status: Status | None
    priority: Priority | None
    total_cents: int | None = Field(
        description="The order's total, else the sum of its live, not cancelled lines' "
        "quantity x price (each rounded to the cent)"
    )
    created_at: str | None
    created_by: uuid.UUID | None = Field(
        description="The user whose edit created the pre-order (null: made by an import)"
    )
    created_by_name: str | None = Field(description="That user's display name")
    version: int = Field(description=VERSION)
    updated_at: str | None = Field(description="When the pre-order last changed (UTC)")
    etag: str = Field(description='The version, quoted: "3"')
    flows: list[Flow]


class PreOrderPage(BaseModel):
    items: list[PreOrder]
    next_cursor: str | None


#: The list's sort keys (storage.records.SORT_KEYS).
PreOrderSort = Literal["created_at", "delivery_date", "partner", "status", "creator"]


class PreOrderQuery(Strict):
    delivery_date: datetime.date | None = None
    status: Status | None = None
    partner_id: uuid.UUID | None = None
    q: Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL)] | None = Field(
        default=None, description="A case-insensitive substring of the partner's name"
    )
    sort: PreOrderSort = Field(
        default="created_at",
        description="The order of the pages (ties by id); a cursor is valid for its sort only",
    )
    order: Literal["asc", "desc"] = "desc"
    limit: int = Field(default=20, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(max_length=2000)] | None = None


class PreOrderExportQuery(Strict):
    """The list's filters and sort, for a CSV of every matching pre-order."""

    delivery_date: datetime.date | None = None
    status: Status | None = None
    partner_id: uuid.UUID | None = None
    q: Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL)] | None = None
    sort: PreOrderSort = "created_at"
    order: Literal["asc", "desc"] = "desc"


# -- catalog -------------------------------------------------------------------------------
class PartnerIn(Strict):
    name: Text
    short_name: ShortText | None = None


class Partner(BaseModel):
    id: uuid.UUID
    name: str | None
    short_name: str | None


class PartnerPage(BaseModel):
    items: list[Partner]
    next_cursor: str | None


class ProductIn(Strict):
    name: Text
    sku: ShortText | None = None
    unit_weight: Quantity | None = None
    unit_price_cents: Cents | None = None


class Product(BaseModel):
    id: uuid.UUID
    name: str | None
    sku: str | None
    unit_weight: float | None
    unit_price_cents: int | None


class ProductPage(BaseModel):
    items: list[Product]
    next_cursor: str | None


class PageQuery(Strict):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None
    q: Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL)] | None = None


# -- events --------------------------------------------------------------------------------
class EventOut(BaseModel):
    id: int
    type: str
    aggregate_id: uuid.UUID
    payload: dict[str, Any]
    created_at: datetime.datetime
    published_at: datetime.datetime | None


class EventPage(BaseModel):
    items: list[EventOut]
    next_after: int


class EventQuery(Strict):
    after: int = Field(default=0, ge=0, le=2**62)
    limit: int = Field(default=100, ge=1, le=1000)


class WebhookIn(Strict):
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s\x00-\x1f\x7f]{1,2000}$")] | None


class WebhookOut(BaseModel):
    url: str | None


# -- summary -------------------------------------------------------------------------------
class SummaryQuery(Strict):
    date_from: datetime.date | None = Field(default=None, alias="from")
    date_to: datetime.date | None = Field(default=None, alias="to")
    top: int = Field(default=10, ge=1, le=100)

    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class StatusTotals(BaseModel):
    status: str
    pre_orders: int
    quantity: float
    weight: float


class ProductTotals(BaseModel):
    product_id: uuid.UUID
    name: str | None
    sku: str | None
    quantity: float
    weight: float


class DayCount(BaseModel):
    date: datetime.date
    pre_orders: int


class PartnerTotals(BaseModel):
    partner_id: uuid.UUID
    name: str | None
    pre_orders: int
    quantity: float


class Summary(BaseModel):
    date_from: datetime.date
    date_to: datetime.date
    by_status: list[StatusTotals]
    top_products: list[ProductTotals]
    per_day: list[DayCount]
    busiest_partners: list[PartnerTotals]
    generated_at: datetime.datetime
    version: int = Field(description="The tenant's message sequence the figures reflect")


# -- accounts --------------------------------------------------------------------------------
Role = Literal["rep", "manager", "admin"]
Email = Annotated[str, StringConstraints(min_length=3, max_length=320, pattern=NO_NUL)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
LinkSecret = Annotated[str, StringConstraints(min_length=16, max_length=200, pattern=r"^[\w-]+$")]


class LoginIn(Strict):
    email: Email
    password: Password


class SignupIn(Strict):
    company: Text
    name: Text
    email: Email
    password: Password = Field(description="at least 8 characters")


class AcceptInviteIn(Strict):
    token: LinkSecret = Field(description="the secret at the end of the invite link")
    name: Text
    password: Password = Field(description="at least 8 characters")


class ResetPasswordIn(Strict):
    token: LinkSecret = Field(description="the secret at the end of the reset link")
    password: Password = Field(description="at least 8 characters")


class PasswordChangeIn(Strict):
    current_password: Password
    new_password: Password = Field(description="at least 8 characters")


class UserOut(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str = Field(description="The tenant's short name: the Orders API's tenantId")
    email: str
    display_name: str
    role: Role


class LoginOut(BaseModel):
    token: str
    expires_in: int
    user: UserOut


class TicketOut(BaseModel):
    ticket: str = Field(description="for GET /live?ticket=, within expires_in seconds")
    expires_in: int


class InviteIn(Strict):
    email: Email
    role: Role = "rep"


class LinkOut(BaseModel):
    """An invite or a password-reset link (the link itself only when it is made)."""

    id: uuid.UUID
    kind: Literal["invite", "reset"]
    email: str
    role: Role | None
    user_id: uuid.UUID | None
    created_at: datetime.datetime
    expires_at: datetime.datetime
    link: str | None = None


class LinkList(BaseModel):
    items: list[LinkOut]


class Member(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    active: bool
    created_at: datetime.datetime
    last_sync: datetime.datetime | None


class MemberList(BaseModel):
    items: list[Member]


class RoleIn(Strict):
    role: Role


class Device(BaseModel):
    node: str
    user_id: uuid.UUID
    user_name: str
    first_sync: datetime.datetime
    last_sync: datetime.datetime
    user_agent: str | None
    revoked_at: datetime.datetime | None


class DeviceList(BaseModel):
    items: list[Device]


class Profile(BaseModel):
    """The profile document: its `version` goes up by one with every change (the ETag)."""

    id: uuid.UUID
    name: str
    email: str
    avatar: str | None
    role: Role
    version: int


class ProfilePatch(Patch):
    name: Text | None = None
    email: Email | None = None
    avatar: Annotated[str, StringConstraints(max_length=200_000)] | None = None


# -- sync protocol (described here so the whole surface is in one document) -----------------
class WireMessage(BaseModel):
    dataset: str
    row: str
    column: str
    value: str | float | bool | None
    timestamp: str
    prev: str | None = None
    seq: int | None = None


class SnapshotRowsPage(BaseModel):
    """A page of one dataset's rows (registers), in row id order."""

    done: Literal[False]
    dataset: str
    columns: list[str]
    rows: list[list[Any]] = Field(
        description="Per row: its id, then for each column its value and its timestamp"
    )
    cursor: str = Field(description="Send it back as ?cursor= for the next page")
    dataset_done: bool = Field(description="This page is its dataset's last")
    total_rows: int | None = Field(default=None, description="On the first page: every row")


class SnapshotLatePage(BaseModel):
    """Messages that arrived since the first page, when more than the closing page holds:
    they come before it and are applied with it."""

    done: Literal[False]
    cursor: str
    messages: list[WireMessage]


class SnapshotEndPage(BaseModel):
    """The closing page: the trie (counting every message up to `seq`), the messages after
    `seq` up to the last one here (apply them: the trie does not count them), and where the
    conflicts feed of a new device starts."""

    done: Literal[True]
    seq: int = Field(description="The sequence the rows and the trie are at")
    conflicts_after: int
    messages: list[WireMessage]
    trie: list[tuple[str, int, int]] = Field(description="Every trie node: [path, hash, count]")


class SnapshotPage(RootModel[SnapshotRowsPage | SnapshotLatePage | SnapshotEndPage]):
    """One page of GET /snapshot: rows, late messages, or the closing page."""


class MerkleView(BaseModel):
    path: str
    count: int
    root_hash: int
    trie: dict[str, Any] = Field(description="The (sub)trie in the reference JSON form")


class MerkleRange(BaseModel):
    start: int = Field(description="Start, ms since the epoch (inclusive)")
    end: int = Field(description="End, ms since the epoch (exclusive)")
    from_: str = Field(alias="from", description="Start as an ISO time (UTC)")
    to: str = Field(description="End as an ISO time (UTC)")
    minutes: int

    model_config = ConfigDict(populate_by_name=True)


class OrderRef(BaseModel):
    id: str
    partner: str | None = Field(description="The order's partner's name, when known")
    date: str | None = Field(description="The order's delivery date, when known")


class DescribedMessage(BaseModel):
    """A message in human terms (`sync_server.diagnose.describe`): the same fields in the
    app's diagnostics page, the compare endpoint and the `diff` CLI."""

    timestamp: str
    when: str = Field(description="The timestamp's time, ISO (UTC)")
    dataset: str
    row: str
    column: str
    value: str | float | bool | None
    node: str = Field(description="The node id that stamped it")
    who: str = Field(description='The sender\'s name, or "unknown device"')
    record: str = Field(description="order, line, partner, product or profile")
    field: str = Field(description="The field's label")
    value_text: str = Field(description="The value as people read it")
    order: OrderRef | None = Field(description="The order (of a line: its parent order)")
    product: str | None = Field(description="A line's product name")
    name: str | None = Field(description="A partner's, product's or profile's name")
    target: str = Field(description='What it changed, e.g. "Acme" 2026-12-02 order (line: X)')
    summary: str = Field(description='e.g. set quantity = 12 on "Acme" 2026-12-02 order')


class UnresolvedMinute(BaseModel):
    from_: str = Field(alias="from")
    to: str

    model_config = ConfigDict(populate_by_name=True)


class MerkleCompareOut(BaseModel):
    in_sync: bool
    ranges: list[MerkleRange] = Field(description="The divergent ranges")
    server_messages: list[WireMessage] = Field(description="The server's messages in them")
    truncated: bool = Field(description="server_messages stops at the limit (1000)")
    root_hash: int = Field(description="The server's root hash")
    count: int = Field(description="How many messages the server holds")
    server_described: list[DescribedMessage] = Field(
        description="server_messages in human terms, in the same order"
    )
    replica_lacks: list[str] = Field(
        description="Timestamps of the server's messages the replica does not hold (from its "
        "trie's hashes and the messages it sent)"
    )
    described: list[DescribedMessage] = Field(
        description="The messages the request sent, in human terms, in the same order"
    )
    server_lacks: list[str] = Field(
        description="Timestamps of the messages sent, inside the ranges, the server lacks"
    )
    unresolved: list[UnresolvedMinute] = Field(
        description="Minutes where the replica's trie holds messages no one named"
    )
    node_names: dict[str, str] = Field(
        description="The name behind each node id asked about (and the senders' nodes)"
    )


class MerkleCompareIn(BaseModel):
    trie: dict[str, Any] = Field(description="A replica's trie in the reference JSON form")
    messages: list[WireMessage] = Field(
        default_factory=list,
        max_length=1000,
        description="The replica's messages in the ranges (optional): described, and matched",
    )
    nodes: list[str] = Field(
        default_factory=list, max_length=1000, description="Node ids to name (optional)"
    )


class SyncIn(SyncRequest):
    """The documented body of POST /sync: the validator itself (`protocol.SyncRequest`, so
    the two cannot drift), with the message list's shape spelled out; the handler checks
    messages one by one for per-index errors."""

    messages: list[WireMessage] = Field(default_factory=list)


class ConflictSide(BaseModel):
    value: str | float | bool | None
    timestamp: str
    user_id: str | None
    user_name: str | None


class ConflictOut(BaseModel):
    id: int
    kind: Literal["superseded", "overwrote", "deleted", "reapplied"]
    dataset: str
    row: str
    column: str
    winner: ConflictSide
    loser: ConflictSide
    detected_at: str
    yours: Literal["winner", "loser"]
    seq: int = Field(description="The notice's place in your feed (up when its state changes)")
    state: Literal["dismissed", "resolved"] | None = Field(
        description="Your say on it, the same on every device of yours"
    )


class ConflictStatesIn(Strict):
    """Conflict notices to mark, by id (only those you are party to change)."""

    dismissed: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=list, max_length=1000
    )
    resolved: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=list, max_length=1000
    )


class ConflictStatesOut(BaseModel):
    changed: int


class SyncOut(BaseModel):
    server_time: int
    inserted: int
    send: list[str]
    push: list[str] = Field(default_factory=list)
    descend: list[str] = Field(default_factory=list)
    messages: list[WireMessage]
    cursor: str | None
    root: tuple[int, int]
    head: int = Field(
        description="The tenant's latest message sequence, read in the snapshot of `root`"
    )
    pulled_through: int | None = Field(
        default=None,
        description="Answering pull_after: where the next pull continues after (head when "
        "every message after the watermark came)",
    )
    conflicts: list[ConflictOut]
    conflicts_watermark: int = Field(
        default=0,
        description="Send it back as conflicts_after: every conflict up to it was "
        "either returned or does not involve you",
    )


class Health(BaseModel):
    status: str


# -- the Airtable connector ----------------------------------------------------------------
AirtableName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)]


class AirtableFieldMap(Strict):
    """Which Airtable column holds each Recap field (one record per order line)."""

    order: AirtableName = "Order"
    partner: AirtableName = "Partner"
    delivery_date: AirtableName = "Delivery date"
    status: AirtableName = "Status"
    product: AirtableName = "Product"
    quantity: AirtableName = "Quantity"
    modified: AirtableName = Field(
        default="Last modified", description="a 'Last modified time' field of the table"
    )


class AirtableOrdersFieldMap(Strict):
    """Which Airtable column holds each field of an order, in "orders" mode (one record per
    order; the defaults are the seed 002 document's table)."""

    order: AirtableName = "Order ID"
    partner: AirtableName = Field(default="Customer", description="the customer's name")
    status: AirtableName = "Status"
    total: AirtableName = Field(default="Order Total", description="a number, currency units")
    created: AirtableName = "Created At"
    modified: AirtableName = Field(default="Updated At", description="set on each write-back")
    priority: AirtableName = "Priority"


class AirtableConnectorIn(Strict):
    base_id: Annotated[str, StringConstraints(pattern=r"^app[A-Za-z0-9]{1,40}$")]
    table: AirtableName = Field(description="the table's id (tbl...) or name")
    api_key: (
        Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^[\x21-\x7e]+$")]
        | None
    ) = Field(default=None, description="required when connecting; stored encrypted")
    field_map: AirtableFieldMap = Field(default_factory=AirtableFieldMap)
    schedule_s: int = Field(default=300, ge=0, le=86_400, description="0: only on demand")
    mode: Literal["lines", "orders"] = Field(
        default="lines",
        description="'lines': one record per order line, both ways; 'orders': one record per "
        "order (Order ID, Customer, Status, Order Total, Created At, Updated At, Priority), "
        "Airtable the source of truth, only status and priority written back",
    )
    orders_field_map: AirtableOrdersFieldMap = Field(
        default_factory=AirtableOrdersFieldMap, description="the columns, in 'orders' mode"
    )


class AirtableRun(BaseModel):
    run_id: int
    trigger: str
    status: str
    started_at: str
    finished_at: str | None
    seconds: float
    records_read: int
    records_imported: int
    messages_written: int
    conflicts: int
    records_created: int
    records_updated: int
    records_deleted: int
    requests: int
    rate_limited: int
    retried: int
    problems: list[str]
    error: dict[str, str] | None


class AirtableConnectorOut(BaseModel):
    configured: bool
    base_id: str | None = None
    table: str | None = None
    field_map: AirtableFieldMap | AirtableOrdersFieldMap | None = None
    schedule_s: int | None = None
    mode: Literal["lines", "orders"] | None = None
    has_api_key: bool = False
    state: Literal["idle", "ok", "error"] | None = None
    last_error: str | None = None
    last_run_at: datetime.datetime | None = None
    last_run: AirtableRun | None = None
