"""Pre-orders and their flows over REST (the writes are `services.records.Records`: messages
from the server's own node through the same apply path as a rep's sync)."""

from __future__ import annotations

import base64
import csv
import io
import uuid
from typing import Any

import orjson
from aiohttp import web

from crdt.message import Scalar

from ..errors import BadRequest, Invalid
from ..httpio import (
    caller,
    created,
    idempotency_key,
    json_response,
    parse_body,
    parse_query,
    path_uuid,
)
from ..keys import PAGE_CACHE, POOL, RECORDS
from ..models import (
    FlowIn,
    FlowPatch,
    PreOrder,
    PreOrderExportQuery,
    PreOrderIn,
    PreOrderPage,
    PreOrderPatch,
    PreOrderQuery,
)
from ..operations import Header, operation
from ..services.records import page_documents, read
from ..storage import merkle, records
from .cursors import decode_keyset_cursor, encode_cursor


def decode_cursor_values(text: str) -> list[Any]:
    """A cursor's JSON list, any length (checked by the caller)."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except Exception as exc:
        raise BadRequest("malformed cursor") from exc
    if not isinstance(values, list):
        raise BadRequest("malformed cursor")
    return values


IF_MATCH = Header("If-Match", True, "The record's version, as its ETag gives it")
IDEMPOTENCY = Header(
    "Idempotency-Key",
    True,
    "Unique per logical create; replays are answered with the original response for 24 h",
    {"type": "string", "maxLength": 200, "pattern": "^[ -~]*[!-~][ -~]*$"},
)


def _changes(body: PreOrderPatch | FlowPatch) -> dict[str, Scalar]:
    changes: dict[str, Scalar] = body.model_dump(mode="json", exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise Invalid("fields cannot be set to null")
    return changes


def _sort_token(sort: str, order: str) -> str | None:
    """The sort a cursor was made for; None for the default (created_at desc), whose
    cursors stay the plain `[key, id]` pair."""
    return None if (sort, order) == ("created_at", "desc") else f"{sort}.{order}"


def _encode_cursor(last: tuple[str, str], sort: str, order: str) -> str:
    token = _sort_token(sort, order)
    return encode_cursor(list(last) if token is None else [token, *last])


def _decode_cursor(text: str, sort: str, order: str) -> tuple[str, str]:
    """A cursor back: 400 if malformed or made for another sort than this request's."""
    token = _sort_token(sort, order)
    if token is None:
        try:
            return decode_keyset_cursor(text)
        except BadRequest:
            raise BadRequest("malformed cursor, or one made for another sort") from None
    values = decode_cursor_values(text)
    if len(values) != 3 or values[0] != token:
        raise BadRequest("malformed cursor, or one made for another sort")
    key, row = values[1], values[2]
    if not isinstance(key, str) or len(key) > 1000 or "\x00" in key or not isinstance(row, str):
        raise BadRequest("malformed cursor")
    try:
        uuid.UUID(row)
    except ValueError:
        raise BadRequest("malformed cursor") from None
    return key, row


def _filters(q: PreOrderQuery | PreOrderExportQuery) -> records.PageFilter:
    """The list's and the export's query as the storage reads it."""
    return records.PageFilter(
        delivery_date=q.delivery_date,
        status=q.status,
        partner_id=str(q.partner_id) if q.partner_id else None,
        q=q.q or None,
        sort=q.sort,
        descending=q.order == "desc",
    )


@operation(
    "GET",
    "/api/v1/preorders",
    "List pre-orders (keyset pages, newest first or by `sort`)",
    "pre-orders",
    response=PreOrderPage,
    query=PreOrderQuery,
    errors=[400, 422],
)
async def list_preorders(request: web.Request) -> web.Response:
    """One statement (`storage.records.preorder_page`) reads the page, its flows and the
    next cursor's key; the documents are answered as `page_documents` builds them, in
    PreOrderPage's shape without a second validation pass (tests/server/test_rest_reads.py
    checks the bytes against the model's). A page read before is answered from memory
    while the tenant's message count has not moved (`services/pages.py` says why that is
    never stale)."""
    tenant = caller(request).tenant_id
    q = parse_query(request, PreOrderQuery)
    after = _decode_cursor(q.cursor, q.sort, q.order) if q.cursor else None
    filters = _filters(q)
    key = (tenant, filters, after, q.limit)
    cache = request.app[PAGE_CACHE]
    async with request.app[POOL].acquire() as conn:
        count = await merkle.message_count(conn, tenant)
        body = cache.get(key, count)
        if body is None:
            rows = await records.preorder_page(conn, tenant, filters, after, q.limit)
            items, last = page_documents(rows, q.limit)
            cursor = _encode_cursor(last, q.sort, q.order) if last is not None else None
            body = orjson.dumps({"items": items, "next_cursor": cursor})
            cache.put(key, count, body)
    return web.Response(body=body, content_type="application/json")


#: The export's file name, as the browser saves it.
EXPORT_DISPOSITION = {"Content-Disposition": "attachment; filename=preorders.csv"}
#: The most rows a CSV export holds; more is refused (422), never cut silently.
EXPORT_MAX = 50_000
EXPORT_COLUMNS = [
    "id",
    "created_at",
    "delivery_date",
    "partner_id",
    "partner_name",
    "status",
    "created_by_name",
    "lines",
    "quantity",
    "weight",
]


def _cell(value: Any) -> Any:
    """A text cell a spreadsheet would not run as a formula (OWASP's CSV injection advice)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@operation(
    "GET",
    "/api/v1/preorders.csv",
    "Every pre-order matching the list's filters and sort, as CSV (at most 50,000)",
    "pre-orders",
    query=PreOrderExportQuery,
    errors=[422],
    response_headers=EXPORT_DISPOSITION,
)
async def export_preorders(request: web.Request) -> web.Response:
    """The list's pages (`storage.records.preorder_page`, 1,000 at a time) read in one
    repeatable-read snapshot, one CSV row per pre-order with its live lines' count and
    summed quantity and weight. More than EXPORT_MAX rows is a 422 (narrow the filters)."""
    tenant = caller(request).tenant_id
    filters = _filters(parse_query(request, PreOrderExportQuery))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    after: tuple[str, str] | None = None
    async with (
        request.app[POOL].acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        while True:
            limit = min(1000, EXPORT_MAX + 1 - count)
            rows = await records.preorder_page(conn, tenant, filters, after, limit)
            items, after = page_documents(rows, limit)
            count += len(items)
            if count > EXPORT_MAX:
                raise Invalid(f"more than {EXPORT_MAX} pre-orders match: narrow the filters")
            for o in items:
                flows = o["flows"]
                writer.writerow(
                    [
                        o["id"],
                        o["created_at"],
                        o["delivery_date"],
                        o["partner_id"],
                        _cell(o["partner_name"]),
                        o["status"],
                        _cell(o["created_by_name"]),
                        len(flows),
                        sum(f["quantity"] or 0 for f in flows),
                        sum(f["weight"] or 0 for f in flows),
                    ]
                )
            if after is None:
                break
    return web.Response(
        body=out.getvalue().encode(),
        content_type="text/csv",
        charset="utf-8",
        headers=EXPORT_DISPOSITION,
    )


@operation(
    "POST",
    "/api/v1/preorders",
    "Create a pre-order (idempotent)",
    "pre-orders",
    status=201,
    body=PreOrderIn,
    response=PreOrder,
    headers=[IDEMPOTENCY],
    errors=[400, 403, 409, 422, 428],
    also={200: "A replay: the original response to this Idempotency-Key"},
    response_headers={"ETag": "The record's version", "Idempotent-Replayed": "`true` on a replay"},
)
async def create_preorder(request: web.Request) -> web.Response:
    key = idempotency_key(request)
    body = await parse_body(request, PreOrderIn)
    order, replayed = await request.app[RECORDS].create_preorder(caller(request), key, body)
    return created(order, replayed, order["etag"])


@operation(
    "GET",
    "/api/v1/preorders/{id}",
    "Get a pre-order with its flows",
    "pre-orders",
    response=PreOrder,
    errors=[404],
    response_headers={"ETag": "The record's version"},
)
async def get_preorder(request: web.Request) -> web.Response:
    order_id = path_uuid(request)
    async with request.app[POOL].acquire() as conn:
        order = await read(conn, caller(request).tenant_id, order_id)
    return json_response(order, ETag=order["etag"])


@operation(
    "PATCH",
    "/api/v1/preorders/{id}",
    "Change status, partner or delivery date",
    "pre-orders",
    body=PreOrderPatch,
    response=PreOrder,
    headers=[IF_MATCH],
    errors=[400, 403, 404, 409, 422, 428],
    response_headers={"ETag": "The new version"},
)
async def patch_preorder(request: web.Request) -> web.Response:
    who = caller(request)
    order_id = path_uuid(request)
    changes = _changes(await parse_body(request, PreOrderPatch))
    order = await request.app[RECORDS].patch_preorder(
        who, order_id, changes, request.headers.get("If-Match")
    )
    return json_response(order, ETag=order["etag"])


@operation(
    "DELETE",
    "/api/v1/preorders/{id}",
    "Delete a pre-order (a tombstone)",
    "pre-orders",
    status=204,
    errors=[403, 404, 409],
    headers=[Header("If-Match", False, "Optional: delete only if unchanged")],
)
async def delete_preorder(request: web.Request) -> web.Response:
    who = caller(request)
    await request.app[RECORDS].delete_preorder(
        who, path_uuid(request), request.headers.get("If-Match")
    )
    return web.Response(status=204)


@operation(
    "POST",
    "/api/v1/preorders/{id}/flows",
    "Add a flow to a pre-order",
    "pre-orders",
    status=201,
    body=FlowIn,
    response=PreOrder,
    errors=[400, 403, 404, 422],
)
async def add_flow(request: web.Request) -> web.Response:
    who = caller(request)
    order_id = path_uuid(request)
    body = await parse_body(request, FlowIn)
    order = await request.app[RECORDS].add_flow(who, order_id, body)
    return json_response(order, 201, ETag=order["etag"])


@operation(
    "PATCH",
    "/api/v1/preorders/{id}/flows/{flow_id}",
    "Change a flow's product, quantity or weight",
    "pre-orders",
    body=FlowPatch,
    response=PreOrder,
    headers=[IF_MATCH],
    errors=[400, 403, 404, 409, 422, 428],
)
async def patch_flow(request: web.Request) -> web.Response:
    who = caller(request)
    order_id, flow_id = path_uuid(request), path_uuid(request, "flow_id")
    changes = _changes(await parse_body(request, FlowPatch))
    order = await request.app[RECORDS].patch_flow(
        who, order_id, flow_id, changes, request.headers.get("If-Match")
    )
    return json_response(order, ETag=order["etag"])


@operation(
    "DELETE",
    "/api/v1/preorders/{id}/flows/{flow_id}",
    "Remove a flow",
    "pre-orders",
    status=204,
    errors=[403, 404],
)
async def delete_flow(request: web.Request) -> web.Response:
    who = caller(request)
    order_id, flow_id = path_uuid(request), path_uuid(request, "flow_id")
    await request.app[RECORDS].delete_flow(who, order_id, flow_id)
    return web.Response(status=204)
