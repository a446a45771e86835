"""The REST API's reads and writes of pre-orders, flows, partners and products.

Every write becomes messages stamped by the server's clock (its own node) and goes through
`apply_messages`, the path a rep's sync takes, so it replicates to every rep and merges with
their offline edits by the same rules. A write that checks something first (an If-Match, an
Idempotency-Key, that a referenced row exists) does so under the tenant lock, in the
write's own transaction, so nothing can change between the check and the write.
"""

from __future__ import annotations

import datetime
import hashlib
import math
from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson
import uuid_utils

from crdt.merge import Register
from crdt.message import Scalar
from crdt.schema import DATASETS, STATUS_TRANSITIONS

from ..auth import Principal
from ..clock import Edit, ServerClock
from ..errors import Conflict, Invalid, InvalidTransition, NotFound
from ..models import FlowIn, PreOrder, PreOrderIn
from ..storage import idempotency, records, registers
from ..storage.apply import apply_messages
from ..storage.common import Conn, lock_tenant
from .permissions import check_fields
from .versions import check_if_match, etag

IDEMPOTENCY_TTL = datetime.timedelta(hours=24)
#: The columns of the catalog datasets the API shows and accepts (all but the tombstone).
CATALOG_COLUMNS = {
    dataset: [column for column in DATASETS[dataset] if column != "tombstone"]
    for dataset in ("partners", "products")
}


def line_amount(quantity: float | None, price_cents: int | None) -> int | None:
    """A line's amount in cents: quantity x price rounded half up (floor(x + 0.5), which
    PostgreSQL's `floor` computes on the same doubles, for the summary's SQL)."""
    if quantity is None or price_cents is None:
        return None
    return math.floor(quantity * price_cents + 0.5)


def order_total(stored: int | None, flows: list[dict[str, Any]]) -> int | None:
    """A pre-order's total: the one set on it (the Orders API's confirm, an Airtable
    import), else the sum of its live, not cancelled lines' amounts; null while no line
    has both a quantity and a price."""
    if stored is not None:
        return stored
    amounts = [
        line_amount(f["quantity"], f["price_cents"]) for f in flows if f["status"] != "cancelled"
    ]
    priced = [a for a in amounts if a is not None]
    return sum(priced) if priced else None


def _document(order: dict[str, Any]) -> dict[str, Any]:
    """A stored pre-order as the API shows it, each record with its ETag."""
    flows = [{**f, "etag": etag(f["version"])} for f in order["flows"]]
    model = PreOrder.model_validate(
        {
            **order,
            "total_cents": order_total(order["total_cents"], flows),
            "etag": etag(order["version"]),
            "flows": flows,
        }
    )
    return model.model_dump(mode="json")


async def read(conn: Conn, tenant: str, order_id: str) -> dict[str, Any]:
    found = await records.preorders_by_id(conn, tenant, [order_id])
    if not found:
        raise NotFound("no such pre-order")
    return _document(found[0])


def page_documents(
    rows: list[asyncpg.Record], limit: int
) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
    """A page's documents from `storage.records.preorder_page`'s rows (one per flow, their
    columns in this order), as `_document` answers a pre-order (the fields in PreOrder's
    and Flow's order, each record with its ETag), built directly: a page of up to 200
    pre-orders is too many documents to validate one by one on every read (on the hot
    path, this loop is most of the handler's own time). And the next cursor's
    `(sort key, id)`: the last document's, if a row beyond the page came back."""
    documents: list[dict[str, Any]] = []
    flows: list[dict[str, Any]] = []
    number, key, order_id = 0, "", ""
    for (
        n,
        oid,
        partner_id,
        partner_name,
        day,
        status,
        priority,
        total_cents,
        created_at,
        created_by,
        created_by_name,
        version,
        stamp,
        sort_key,
        flow_id,
        product_id,
        product_name,
        sku,
        quantity,
        weight,
        price,
        flow_status,
        flow_version,
        flow_stamp,
    ) in rows:
        if n > limit:
            return documents, (key, order_id)
        if n != number:
            if documents:
                _settle_total(documents[-1])
            number, key, order_id, flows = n, sort_key, oid, []
            documents.append(
                {
                    "id": oid,
                    "partner_id": partner_id,
                    "partner_name": partner_name,
                    "delivery_date": day.isoformat() if day is not None else None,
                    "status": status,
                    "priority": priority,
                    "total_cents": total_cents,
                    "created_at": created_at,
                    "created_by": created_by,
                    "created_by_name": created_by_name,
                    "version": version,
                    "updated_at": records.wall_clock(stamp),
                    "etag": f'"{version}"',
                    "flows": flows,
                }
            )
        if flow_id is not None:
            flows.append(
                {
                    "id": flow_id,
                    "pre_order_id": oid,
                    "product_id": product_id,
                    "product_name": product_name,
                    "sku": sku,
                    "quantity": quantity,
                    "weight": weight,
                    "price_cents": price,
                    "status": flow_status,
                    "version": flow_version,
                    "updated_at": records.wall_clock(flow_stamp),
                    "etag": f'"{flow_version}"',
                }
            )
    if documents:
        _settle_total(documents[-1])
    return documents, None


def _settle_total(document: dict[str, Any]) -> None:
    document["total_cents"] = order_total(document["total_cents"], document["flows"])


async def replay(
    conn: Conn, tenant: str, key: str, digest: str, ttl: datetime.timedelta
) -> Any | None:
    """The stored answer of an earlier create with this Idempotency-Key and request (None
    if there is none within `ttl`); the same key with another request is 409 `conflict`.
    Under the tenant lock, so concurrent duplicates serialize."""
    prior = await idempotency.find(conn, tenant, key, ttl)
    if prior is None:
        return None
    if prior["request_hash"] != digest:
        raise Conflict("this Idempotency-Key was used with a different request body")
    return prior["response"]


async def _require_live(conn: Conn, tenant: str, dataset: str, ids: list[str], what: str) -> None:
    if not ids:
        return
    missing = set(ids) - await registers.live_ids(conn, tenant, dataset, ids)
    if missing:
        raise Invalid(f"no such {what}: {sorted(missing)[0]}")


def _live(found: tuple[dict[str, Register], int] | None) -> bool:
    tomb = found[0].get("tombstone") if found else None
    return found is not None and bool(found[0]) and (tomb is None or tomb.value != 1)


async def _order_registers(
    conn: Conn, tenant: str, order_id: str
) -> tuple[dict[str, Register], int]:
    """A live pre-order's registers and version, or 404."""
    found = await registers.with_version(conn, tenant, "pre_orders", order_id)
    if found is None or not _live(found):
        raise NotFound("no such pre-order")
    return found


async def _flow_registers(
    conn: Conn, tenant: str, order_id: str, flow_id: str
) -> tuple[dict[str, Register], int]:
    """A live flow of a live pre-order: its registers and version, or 404."""
    await _order_registers(conn, tenant, order_id)
    found = await registers.with_version(conn, tenant, "pre_order_flows", flow_id)
    parent = found[0].get("pre_order_id") if found else None
    if found is None or not _live(found) or parent is None or parent.value != order_id:
        raise NotFound("no such flow on this pre-order")
    return found


def flow_edits(flow_id: str, order_id: str, flow: FlowIn) -> list[Edit]:
    edits: list[Edit] = [
        ("pre_order_flows", flow_id, "pre_order_id", order_id),
        ("pre_order_flows", flow_id, "product_id", str(flow.product_id)),
        ("pre_order_flows", flow_id, "quantity", flow.quantity),
        ("pre_order_flows", flow_id, "status", flow.status),
        ("pre_order_flows", flow_id, "tombstone", 0),
    ]
    if flow.weight is not None:
        edits.append(("pre_order_flows", flow_id, "weight", flow.weight))
    if flow.price_cents is not None:
        edits.append(("pre_order_flows", flow_id, "price_cents", flow.price_cents))
    return edits


def check_transition(current: Register | None, wanted: Scalar) -> None:
    """A REST write may move a pre-order's status only along `STATUS_TRANSITIONS` (or
    leave it as it is): 409 `invalid_transition` otherwise, naming the allowed ones."""
    now = current.value if current is not None else None
    if now is None or now == wanted or not isinstance(now, str):
        return
    allowed = STATUS_TRANSITIONS.get(now, ())
    if wanted not in allowed:
        raise InvalidTransition(
            f"a {now} pre-order cannot become {wanted}"
            + (f" (it can become: {', '.join(allowed)})" if allowed else " (it is final)"),
            status=now,
            allowed=list(allowed),
        )


class Records:
    """The REST writes, over a pool and the server's clock."""

    def __init__(self, pool: asyncpg.Pool, clock: ServerClock) -> None:
        self.pool = pool
        self.clock = clock

    async def _write(
        self,
        conn: Conn,
        who: Principal,
        current: Mapping[tuple[str, str], Mapping[str, Register]],
        edits: list[Edit],
    ) -> None:
        """Stamp and apply the caller's edits, if their role may make them (403
        `forbidden_write` otherwise, as for a device's push)."""
        check_fields(who, edits)
        if edits:
            batch = self.clock.stamp(current, edits)
            await apply_messages(conn, who.tenant_id, who.user_id, batch)

    def created_at(self) -> str:
        """A record's creation time, now by the server's clock, to the second (UTC)."""
        now = datetime.datetime.fromtimestamp(self.clock.now_ms() / 1000, datetime.UTC)
        return now.strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- pre-orders ----------------------------------------------------------------------
    async def create_preorder(
        self, who: Principal, key: str, body: PreOrderIn
    ) -> tuple[dict[str, Any], bool]:
        """Create a pre-order, once per Idempotency-Key: the answer, and whether it is the
        replay of an earlier create. Under the tenant lock, in the create's transaction, so
        concurrent duplicates serialize and the key survives restarts."""
        tenant = who.tenant_id
        digest = hashlib.sha256(
            orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_tenant(conn, tenant)
            prior = await replay(conn, tenant, key, digest, IDEMPOTENCY_TTL)
            if prior is not None:
                return prior, True
            await _require_live(conn, tenant, "partners", [str(body.partner_id)], "partner")
            await _require_live(
                conn, tenant, "products", sorted({str(f.product_id) for f in body.flows}), "product"
            )
            order_id = str(uuid_utils.uuid7())
            created = self.created_at()
            edits: list[Edit] = [
                ("pre_orders", order_id, "partner_id", str(body.partner_id)),
                ("pre_orders", order_id, "delivery_date", body.delivery_date.isoformat()),
                ("pre_orders", order_id, "status", body.status),
                ("pre_orders", order_id, "priority", body.priority),
                ("pre_orders", order_id, "created_at", created),
                ("pre_orders", order_id, "tombstone", 0),
            ]
            if body.total_cents is not None:
                edits.append(("pre_orders", order_id, "total_cents", body.total_cents))
            for flow in body.flows:
                edits += flow_edits(str(uuid_utils.uuid7()), order_id, flow)
            await self._write(conn, who, {}, edits)
            response = await read(conn, tenant, order_id)
            await idempotency.save(conn, tenant, key, digest, 201, response)
        return response, False

    async def patch_preorder(
        self,
        who: Principal,
        order_id: str,
        changes: dict[str, Scalar],
        if_match: str | None,
    ) -> dict[str, Any]:
        tenant = who.tenant_id
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_tenant(conn, tenant)
            regs, version = await _order_registers(conn, tenant, order_id)
            check_if_match(if_match, version)
            if "status" in changes:
                check_transition(regs.get("status"), changes["status"])
            if "partner_id" in changes:
                await _require_live(
                    conn, tenant, "partners", [str(changes["partner_id"])], "partner"
                )
            edits = [("pre_orders", order_id, c, v) for c, v in sorted(changes.items())]
            await self._write(conn, who, {("pre_orders", order_id): regs}, edits)
            return await read(conn, tenant, order_id)

    async def delete_preorder(self, who: Principal, order_id: str, if_match: str | None) -> None:
        """A tombstone; with If-Match, only if the pre-order is unchanged."""
        tenant = who.tenant_id
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_tenant(conn, tenant)
            regs, version = await _order_registers(conn, tenant, order_id)
            if if_match is not None:
                check_if_match(if_match, version)
            edits: list[Edit] = [("pre_orders", order_id, "tombstone", 1)]
            await self._write(conn, who, {("pre_orders", order_id): regs}, edits)

    # -- flows ---------------------------------------------------------------------------
    async def add_flow(self, who: Principal, order_id: str, body: FlowIn) -> dict[str, Any]:
        tenant = who.tenant_id
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_tenant(conn, tenant)
            await _order_registers(conn, tenant, order_id)
            await _require_live(conn, tenant, "products", [str(body.product_id)], "product")
            edits = flow_edits(str(uuid_utils.uuid7()), order_id, body)
            await self._write(conn, who, {}, edits)
            return await read(conn, tenant, order_id)

    async def patch_flow(
        self,
        who: Principal,
        order_id: str,
        flow_id: str,
        changes: dict[str, Scalar],
        if_match: str | None,
    ) -> dict[str, Any]:
        tenant = who.tenant_id
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_tenant(conn, tenant)
            regs, version = await _flow_registers(conn, tenant, order_id, flow_id)
            check_if_match(if_match, version)
            if "product_id" in changes:
                await _require_live(
                    conn, tenant, "products", [str(changes["product_id"])], "product"
                )
            edits = [("pre_order_flows", flow_id, c, v) for c, v in sorted(changes.items())]
            await self._write(conn, who, {("pre_order_flows", flow_id): regs}, edits)
            return await read(conn, tenant, order_id)

    async def delete_flow(self, who: Principal, order_id: str, flow_id: str) -> None:
        tenant = who.tenant_id
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_tenant(conn, tenant)
            regs, _ = await _flow_registers(conn, tenant, order_id, flow_id)
            edits: list[Edit] = [("pre_order_flows", flow_id, "tombstone", 1)]
            await self._write(conn, who, {("pre_order_flows", flow_id): regs}, edits)

    # -- partners and products -----------------------------------------------------------
    async def create_catalog_row(
        self, who: Principal, dataset: str, fields: dict[str, Scalar]
    ) -> str:
        """A new partner or product; its id."""
        row = str(uuid_utils.uuid7())
        edits: list[Edit] = [(dataset, row, c, v) for c, v in fields.items() if v is not None]
        edits.append((dataset, row, "tombstone", 0))
        async with self.pool.acquire() as conn:
            await self._write(conn, who, {}, edits)
        return row
