"""Pre-orders and their flows over REST. Every write becomes messages from the server's own
node through the same apply path as a rep's sync, so it replicates to every rep and merges
with their offline edits by the same rules."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

import orjson
import uuid_utils
from aiohttp import web

from crdt.merge import Register
from crdt.message import Scalar

from .. import storage
from ..app import POOL, json_response, principal
from ..errors import ApiError, invalid, not_found
from . import queries
from .common import (
    decode_keyset_cursor,
    encode_cursor,
    etag_of,
    parse_body,
    parse_query,
    path_uuid,
    stamp,
)
from .models import (
    Flow,
    FlowIn,
    FlowPatch,
    PreOrder,
    PreOrderIn,
    PreOrderPage,
    PreOrderPatch,
    PreOrderQuery,
)
from .registry import Header, operation

IDEMPOTENCY_TTL = datetime.timedelta(hours=24)
IF_MATCH = Header("If-Match", True, "The record's current ETag (optimistic locking)")
IDEMPOTENCY = Header(
    "Idempotency-Key",
    True,
    "Unique per logical create; replays are answered with the original response for 24 h",
    {"type": "string", "maxLength": 200, "pattern": "^[ -~]*[!-~][ -~]*$"},
)


def _dump(model: PreOrder | Flow) -> dict[str, Any]:
    return model.model_dump(mode="json")


async def _read_order(conn: storage.Conn, tenant: str, order_id: str) -> dict[str, Any]:
    found = await queries.preorders_by_id(conn, tenant, [order_id])
    if not found:
        raise not_found("no such pre-order")
    return _dump(PreOrder.model_validate(found[0]))


async def _order_registers(conn: storage.Conn, tenant: str, order_id: str) -> dict[str, Register]:
    """A live pre-order's registers, or 404."""
    regs = await queries.registers_of(conn, tenant, "pre_orders", order_id)
    if regs is None:
        raise not_found("no such pre-order")
    return regs


def _check_if_match(request: web.Request, etag: str) -> None:
    given = request.headers.get("If-Match")
    if given is None:
        raise ApiError(428, "precondition_required", "If-Match with the record's ETag is required")
    if given.strip() not in (etag, "*"):
        raise ApiError(
            412,
            "precondition_failed",
            "the record changed since you read it; re-read it and retry",
            current_etag=etag,
        )


@operation(
    "GET",
    "/api/v1/preorders",
    "List pre-orders (keyset pages, newest first)",
    "pre-orders",
    response=PreOrderPage,
    query=PreOrderQuery,
    errors=[400, 422],
)
async def list_preorders(request: web.Request) -> web.Response:
    who = principal(request)
    q = parse_query(request, PreOrderQuery)
    after = decode_keyset_cursor(q.cursor) if q.cursor else None
    async with request.app[POOL].acquire() as conn:
        ids = await queries.preorder_page(
            conn,
            who.tenant_id,
            q.delivery_date,
            q.status,
            str(q.partner_id) if q.partner_id else None,
            after,
            q.limit + 1,
        )
        page = ids[: q.limit]
        items = await queries.preorders_by_id(conn, who.tenant_id, page)
        cursor = None
        if len(ids) > q.limit:
            cursor = encode_cursor(
                [await queries.created_at_of(conn, who.tenant_id, page[-1]), page[-1]]
            )
    body = PreOrderPage.model_validate({"items": items, "next_cursor": cursor})
    return json_response(body.model_dump(mode="json"))


@operation(
    "POST",
    "/api/v1/preorders",
    "Create a pre-order (idempotent)",
    "pre-orders",
    status=201,
    body=PreOrderIn,
    response=PreOrder,
    headers=[IDEMPOTENCY],
    errors=[400, 409, 422, 428],
    also={200: "A replay: the original response to this Idempotency-Key"},
    response_headers={"ETag": "The record's version", "Idempotent-Replayed": "`true` on a replay"},
)
async def create_preorder(request: web.Request) -> web.Response:
    who = principal(request)
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise ApiError(428, "precondition_required", "an Idempotency-Key header is required")
    if len(key) > 200 or not key.isascii() or not key.isprintable():
        raise invalid("Idempotency-Key must be at most 200 printable ASCII characters")
    body = await parse_body(request, PreOrderIn)
    digest = hashlib.sha256(
        orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    tenant = who.tenant_id
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await storage.lock_tenant(conn, tenant)
        prior = await conn.fetchrow(
            """SELECT request_hash, status, response FROM idempotency_keys
               WHERE tenant_id = $1 AND key = $2 AND created_at > now() - $3::interval""",
            tenant,
            key,
            IDEMPOTENCY_TTL,
        )
        if prior is not None:
            if prior["request_hash"] != digest:
                raise ApiError(
                    409, "conflict", "this Idempotency-Key was used with a different request body"
                )
            response = prior["response"]
            return json_response(
                response, 200, ETag=response["etag"], **{"Idempotent-Replayed": "true"}
            )
        await _require_live(conn, tenant, "partners", [str(body.partner_id)], "partner")
        await _require_live(
            conn, tenant, "products", sorted({str(f.product_id) for f in body.flows}), "product"
        )
        order_id = str(uuid_utils.uuid7())
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        edits: list[tuple[str, str, str, Scalar]] = [
            ("pre_orders", order_id, "partner_id", str(body.partner_id)),
            ("pre_orders", order_id, "delivery_date", body.delivery_date.isoformat()),
            ("pre_orders", order_id, "status", body.status),
            ("pre_orders", order_id, "created_at", now),
            ("pre_orders", order_id, "tombstone", 0),
        ]
        for flow in body.flows:
            edits += _flow_edits(str(uuid_utils.uuid7()), order_id, flow)
        await storage.apply_messages(conn, tenant, who.user_id, stamp(request, {}, edits))
        response = await _read_order(conn, tenant, order_id)
        await conn.execute(
            """INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response)
               VALUES ($1, $2, $3, 201, $4)
               ON CONFLICT (tenant_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
                   status = 201, response = EXCLUDED.response, created_at = now()""",
            tenant,
            key,
            digest,
            response,
        )
    return json_response(response, 201, ETag=response["etag"])


def _flow_edits(flow_id: str, order_id: str, flow: FlowIn) -> list[tuple[str, str, str, Scalar]]:
    edits: list[tuple[str, str, str, Scalar]] = [
        ("pre_order_flows", flow_id, "pre_order_id", order_id),
        ("pre_order_flows", flow_id, "product_id", str(flow.product_id)),
        ("pre_order_flows", flow_id, "quantity", flow.quantity),
        ("pre_order_flows", flow_id, "tombstone", 0),
    ]
    if flow.weight is not None:
        edits.append(("pre_order_flows", flow_id, "weight", flow.weight))
    return edits


async def _require_live(
    conn: storage.Conn, tenant: str, dataset: str, ids: list[str], what: str
) -> None:
    if not ids:
        return
    missing = set(ids) - await queries.live_ids(conn, tenant, dataset, ids)
    if missing:
        raise invalid(f"no such {what}: {sorted(missing)[0]}")


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
    who = principal(request)
    order_id = path_uuid(request)
    async with request.app[POOL].acquire() as conn:
        order = await _read_order(conn, who.tenant_id, order_id)
    return json_response(order, ETag=order["etag"])


@operation(
    "PATCH",
    "/api/v1/preorders/{id}",
    "Change status, partner or delivery date",
    "pre-orders",
    body=PreOrderPatch,
    response=PreOrder,
    headers=[IF_MATCH],
    errors=[400, 404, 412, 422, 428],
    response_headers={"ETag": "The new version"},
)
async def patch_preorder(request: web.Request) -> web.Response:
    who = principal(request)
    order_id = path_uuid(request)
    body = await parse_body(request, PreOrderPatch)
    changes = _changes(body)
    tenant = who.tenant_id
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await storage.lock_tenant(conn, tenant)
        regs = await _order_registers(conn, tenant, order_id)
        await _write_fields(
            request,
            conn,
            tenant,
            who.user_id,
            "pre_orders",
            order_id,
            regs,
            changes,
            {"partner_id": ("partners", "partner")},
        )
        order = await _read_order(conn, tenant, order_id)
    return json_response(order, ETag=order["etag"])


def _changes(body: PreOrderPatch | FlowPatch) -> dict[str, Scalar]:
    changes: dict[str, Scalar] = body.model_dump(mode="json", exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise invalid("fields cannot be set to null")
    return changes


async def _write_fields(
    request: web.Request,
    conn: storage.Conn,
    tenant: str,
    user_id: str,
    dataset: str,
    row: str,
    regs: dict[str, Register],
    changes: dict[str, Scalar],
    references: dict[str, tuple[str, str]],
) -> None:
    """A PATCH's write, under the tenant lock the caller holds: check If-Match against the
    record's current version, check referenced rows exist, then stamp and apply."""
    _check_if_match(request, etag_of(regs))
    for column, (ref_dataset, what) in references.items():
        if column in changes:
            await _require_live(conn, tenant, ref_dataset, [str(changes[column])], what)
    edits: list[tuple[str, str, str, Scalar]] = [
        (dataset, row, column, value) for column, value in sorted(changes.items())
    ]
    if edits:
        messages = stamp(request, {(dataset, row): regs}, edits)
        await storage.apply_messages(conn, tenant, user_id, messages)


@operation(
    "DELETE",
    "/api/v1/preorders/{id}",
    "Delete a pre-order (a tombstone)",
    "pre-orders",
    status=204,
    errors=[404, 412],
    headers=[Header("If-Match", False, "Optional: delete only if unchanged")],
)
async def delete_preorder(request: web.Request) -> web.Response:
    who = principal(request)
    order_id = path_uuid(request)
    tenant = who.tenant_id
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await storage.lock_tenant(conn, tenant)
        regs = await _order_registers(conn, tenant, order_id)
        if "If-Match" in request.headers:
            _check_if_match(request, etag_of(regs))
        messages = stamp(
            request, {("pre_orders", order_id): regs}, [("pre_orders", order_id, "tombstone", 1)]
        )
        await storage.apply_messages(conn, tenant, who.user_id, messages)
    return web.Response(status=204)


@operation(
    "POST",
    "/api/v1/preorders/{id}/flows",
    "Add a flow to a pre-order",
    "pre-orders",
    status=201,
    body=FlowIn,
    response=PreOrder,
    errors=[400, 404, 422],
)
async def add_flow(request: web.Request) -> web.Response:
    who = principal(request)
    order_id = path_uuid(request)
    body = await parse_body(request, FlowIn)
    tenant = who.tenant_id
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await storage.lock_tenant(conn, tenant)
        await _order_registers(conn, tenant, order_id)
        await _require_live(conn, tenant, "products", [str(body.product_id)], "product")
        edits = _flow_edits(str(uuid_utils.uuid7()), order_id, body)
        await storage.apply_messages(conn, tenant, who.user_id, stamp(request, {}, edits))
        order = await _read_order(conn, tenant, order_id)
    return json_response(order, 201, ETag=order["etag"])


async def _flow_registers(
    conn: storage.Conn, tenant: str, order_id: str, flow_id: str
) -> dict[str, Any]:
    await _order_registers(conn, tenant, order_id)
    regs = await queries.registers_of(conn, tenant, "pre_order_flows", flow_id)
    parent = regs.get("pre_order_id") if regs else None
    if regs is None or parent is None or parent.value != order_id:
        raise not_found("no such flow on this pre-order")
    return regs


@operation(
    "PATCH",
    "/api/v1/preorders/{id}/flows/{flow_id}",
    "Change a flow's product, quantity or weight",
    "pre-orders",
    body=FlowPatch,
    response=PreOrder,
    headers=[IF_MATCH],
    errors=[400, 404, 412, 422, 428],
)
async def patch_flow(request: web.Request) -> web.Response:
    who = principal(request)
    order_id, flow_id = path_uuid(request), path_uuid(request, "flow_id")
    body = await parse_body(request, FlowPatch)
    changes = _changes(body)
    tenant = who.tenant_id
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await storage.lock_tenant(conn, tenant)
        regs = await _flow_registers(conn, tenant, order_id, flow_id)
        await _write_fields(
            request,
            conn,
            tenant,
            who.user_id,
            "pre_order_flows",
            flow_id,
            regs,
            changes,
            {"product_id": ("products", "product")},
        )
        order = await _read_order(conn, tenant, order_id)
    return json_response(order, ETag=order["etag"])


@operation(
    "DELETE",
    "/api/v1/preorders/{id}/flows/{flow_id}",
    "Remove a flow",
    "pre-orders",
    status=204,
    errors=[404],
)
async def delete_flow(request: web.Request) -> web.Response:
    who = principal(request)
    order_id, flow_id = path_uuid(request), path_uuid(request, "flow_id")
    tenant = who.tenant_id
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await storage.lock_tenant(conn, tenant)
        regs = await _flow_registers(conn, tenant, order_id, flow_id)
        messages = stamp(
            request,
            {("pre_order_flows", flow_id): regs},
            [("pre_order_flows", flow_id, "tombstone", 1)],
        )
        await storage.apply_messages(conn, tenant, who.user_id, messages)
    return web.Response(status=204)
