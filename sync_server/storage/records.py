"""The REST API's reads: live pre-orders with their flows, keyset pages of pre-orders,
partners and products. Each record carries `updated_at`, the latest timestamp among its
fields (its version)."""

from __future__ import annotations

from typing import Any

from .common import LIVE, Conn, scalar_from_db
from .registers import registers_of_record


def _latest(record: Any, dataset: str) -> str | None:
    regs = registers_of_record(record, dataset)
    return max((r.timestamp for r in regs.values()), default=None)


async def preorders_by_id(conn: Conn, tenant_id: str, ids: list[str]) -> list[dict[str, Any]]:
    """Live pre-orders with their live flows, in the order of `ids`."""
    if not ids:
        return []
    orders = await conn.fetch(
        f"""SELECT o.*, o.id::text AS sid, p.name AS partner_name FROM pre_orders o
            LEFT JOIN partners p ON p.tenant_id = o.tenant_id AND p.id = o.partner_id
            WHERE o.tenant_id = $1 AND o.id = ANY($2::uuid[]) AND o.{LIVE}""",  # noqa: S608
        tenant_id,
        ids,
    )
    flows = await conn.fetch(
        f"""SELECT f.*, f.id::text AS sid, f.pre_order_id::text AS parent,
                   pr.name AS product_name, pr.sku AS sku
            FROM pre_order_flows f
            LEFT JOIN products pr ON pr.tenant_id = f.tenant_id AND pr.id = f.product_id
            WHERE f.tenant_id = $1 AND f.pre_order_id = ANY($2::uuid[]) AND f.{LIVE}
            ORDER BY f.id""",  # noqa: S608
        tenant_id,
        ids,
    )
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for f in flows:
        by_parent.setdefault(f["parent"], []).append(
            {
                "id": f["sid"],
                "pre_order_id": f["parent"],
                "product_id": scalar_from_db(f["product_id"]),
                "product_name": f["product_name"],
                "sku": f["sku"],
                "quantity": f["quantity"],
                "weight": f["weight"],
                "updated_at": _latest(f, "pre_order_flows"),
            }
        )
    found = {}
    for o in orders:
        found[o["sid"]] = {
            "id": o["sid"],
            "partner_id": scalar_from_db(o["partner_id"]),
            "partner_name": o["partner_name"],
            "delivery_date": scalar_from_db(o["delivery_date"]),
            "status": o["status"],
            "created_at": o["created_at"],
            "updated_at": _latest(o, "pre_orders"),
            "flows": by_parent.get(o["sid"], []),
        }
    return [found[i] for i in ids if i in found]


async def preorder_page(
    conn: Conn,
    tenant_id: str,
    delivery_date: Any,
    status: str | None,
    partner_id: str | None,
    after: tuple[str, str] | None,
    limit: int,
) -> list[str]:
    """Ids of one keyset page, ordered (created_at DESC, id DESC): an index scan on
    pre_orders_keyset, stable under concurrent inserts (no duplicates, no gaps). The ORDER BY
    names the table's uuid column: a bare `id` would mean the text output column and force a
    sort on top of the index."""
    records = await conn.fetch(
        f"""SELECT id::text AS id FROM pre_orders
            WHERE tenant_id = $1 AND {LIVE}
              AND ($2::date IS NULL OR delivery_date = $2)
              AND ($3::text IS NULL OR status = $3)
              AND ($4::uuid IS NULL OR partner_id = $4)
              AND ($5::text IS NULL OR (coalesce(created_at, ''), id) < ($5, $6::uuid))
            ORDER BY coalesce(created_at, '') DESC, pre_orders.id DESC
            LIMIT $7""",  # noqa: S608
        tenant_id,
        delivery_date,
        status,
        partner_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [r["id"] for r in records]


async def created_at_of(conn: Conn, tenant_id: str, order_id: str) -> str:
    value = await conn.fetchval(
        "SELECT coalesce(created_at, '') FROM pre_orders WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        order_id,
    )
    return str(value or "")


async def catalog_page(
    conn: Conn,
    tenant_id: str,
    dataset: str,
    columns: list[str],
    after: tuple[str, str] | None,
    limit: int,
    q: str | None,
) -> list[dict[str, Any]]:
    """Partners or products by (name, id), optionally filtered by a case-insensitive
    substring of the name (or SKU)."""
    cols = ", ".join(columns)
    search = "name" if dataset == "partners" else "coalesce(name, '') || ' ' || coalesce(sku, '')"
    records = await conn.fetch(
        f"""SELECT id::text AS id, {cols} FROM {dataset}
            WHERE tenant_id = $1 AND {LIVE}
              AND ($2::text IS NULL OR {search} ILIKE '%' || $2 || '%')
              AND ($3::text IS NULL OR (coalesce(name, ''), id) > ($3, $4::uuid))
            ORDER BY coalesce(name, ''), {dataset}.id LIMIT $5""",  # noqa: S608
        tenant_id,
        q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") if q else None,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [{k: scalar_from_db(r[k]) for k in ("id", *columns)} for r in records]
