"""The Orders API of the seed 004 document at its own paths (`/orders`), exactly as the
document shows it: camelCase fields, `tenantId` the caller's tenant slug, an integer
`version` in If-Match, "draft" for a pending pre-order. Thin over `services.orders`.

Its wire shapes live here rather than in `models.py`: they are this document's contract
(camelCase), not the API's own snake_case models."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..httpio import (
    caller,
    created,
    idempotency_key,
    json_response,
    parse_body,
    parse_query,
    path_uuid,
)
from ..keys import RECORDS
from ..models import Cents, Priority
from ..operations import Header, operation
from ..services.orders import Orders
from ..services.versions import etag
from .cursors import decode_keyset_cursor, encode_cursor

OrderStatus = Literal[
    "draft", "confirmed", "processing", "shipped", "delivered", "closed", "cancelled"
]


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class OrderCreateIn(Camel):
    tenant_id: str = Field(max_length=100, description="The caller's tenant slug")


class OrderConfirmIn(Camel):
    total_cents: Cents = Field(description="Integer cents")


class OrderListQuery(Camel):
    limit: int = Field(default=10, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=500, description="A page's nextCursor")


class OrderCreated(Camel):
    id: uuid.UUID
    tenant_id: str
    status: OrderStatus
    version: int
    created_at: str


class Order(Camel):
    id: uuid.UUID
    tenant_id: str
    status: OrderStatus
    version: int
    total_cents: int | None
    priority: Priority | None
    partner_id: uuid.UUID | None
    delivery_date: datetime.date | None
    created_at: str | None
    updated_at: str | None


class OrderClosed(Camel):
    id: uuid.UUID
    status: Literal["closed"]
    version: int


class OrderPage(Camel):
    items: list[Order]
    next_cursor: str | None


IDEMPOTENCY = Header(
    "Idempotency-Key",
    True,
    "Unique per logical create; a replay within an hour gets the original response (200)",
    {"type": "string", "maxLength": 200, "pattern": "^[ -~]*[!-~][ -~]*$"},
)


def _orders(request: web.Request) -> Orders:
    """The Orders service over the app's pool and clock (those of `Records`)."""
    base = request.app[RECORDS]
    return Orders(base.pool, base.clock)


@operation(
    "POST",
    "/orders",
    "Create a draft order (idempotent; seed 004)",
    "orders",
    status=201,
    body=OrderCreateIn,
    response=OrderCreated,
    headers=[IDEMPOTENCY],
    errors=[400, 403, 409, 422, 428],
    also={200: "A replay: the original response to this Idempotency-Key"},
    response_headers={"ETag": "The order's version", "Idempotent-Replayed": "`true` on a replay"},
)
async def create_order(request: web.Request) -> web.Response:
    key = idempotency_key(request)
    body = await parse_body(request, OrderCreateIn)
    order, replayed = await _orders(request).create(caller(request), key, body.tenant_id)
    return created(order, replayed, etag(order["version"]))


@operation(
    "PATCH",
    "/orders/{id}",
    "Confirm a draft order with its total (If-Match: its version)",
    "orders",
    body=OrderConfirmIn,
    response=Order,
    headers=[Header("If-Match", True, 'The order\'s version, e.g. "1"')],
    errors=[400, 403, 404, 409, 422, 428],
    response_headers={"ETag": "The new version"},
)
async def confirm_order(request: web.Request) -> web.Response:
    who = caller(request)
    order_id = path_uuid(request)
    body = await parse_body(request, OrderConfirmIn)
    order = await _orders(request).confirm(
        who, order_id, body.total_cents, request.headers.get("If-Match")
    )
    return json_response(order, ETag=etag(order["version"]))


@operation(
    "POST",
    "/orders/{id}/close",
    "Close a confirmed order; its orders.closed event in the same transaction",
    "orders",
    response=OrderClosed,
    headers=[Header("If-Match", False, "Optional: close only at this version")],
    errors=[403, 404, 409],
    response_headers={"ETag": "The new version"},
)
async def close_order(request: web.Request) -> web.Response:
    who = caller(request)
    order_id = path_uuid(request)
    answer = await _orders(request).close(who, order_id, request.headers.get("If-Match"))
    return json_response(answer, ETag=etag(answer["version"]))


@operation(
    "GET",
    "/orders",
    "List orders, newest first by (createdAt, id) (keyset pages)",
    "orders",
    response=OrderPage,
    query=OrderListQuery,
    errors=[400, 422],
)
async def list_orders(request: web.Request) -> web.Response:
    tenant = caller(request).tenant_id
    q = parse_query(request, OrderListQuery)
    after = decode_keyset_cursor(q.cursor) if q.cursor else None
    items, last = await _orders(request).page(tenant, after, q.limit)
    body: dict[str, Any] = {
        "items": items,
        "nextCursor": encode_cursor(list(last)) if last is not None else None,
    }
    return json_response(body)
