"""The dashboard's aggregates over pre-orders and their flows, by delivery date (indexed
SQL; the service caches the answers)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from crdt.schema import DATASETS

from . import messages
from .common import Conn

LIVE_ORDERS = "o.tenant_id = $1 AND o.tombstone IS DISTINCT FROM 1"
LIVE_FLOWS = (
    "f.tenant_id = o.tenant_id AND f.pre_order_id = o.id AND f.tombstone IS DISTINCT FROM 1"
)
IN_RANGE = f"{LIVE_ORDERS} AND o.delivery_date BETWEEN $2 AND $3"


@dataclass
class Aggregates:
    version: int
    by_status: list[dict[str, Any]]
    top_products: list[dict[str, Any]]
    per_day: dict[datetime.date, int]
    busiest_partners: list[dict[str, Any]]


async def aggregates(
    conn: Conn,
    tenant_id: str,
    start: datetime.date,
    end: datetime.date,
    top: int,
    days_from: datetime.date,
) -> Aggregates:
    """Totals by status, the top products and partners of delivery dates in [start, end],
    and pre-orders per delivery day in [days_from, end]; `version` is the tenant's sequence
    when they were read."""
    version = await messages.max_seq(conn, tenant_id)
    by_status = await conn.fetch(
        f"""SELECT o.status, count(DISTINCT o.id) AS pre_orders,
                   coalesce(sum(f.quantity), 0) AS quantity, coalesce(sum(f.weight), 0) AS weight
            FROM pre_orders o LEFT JOIN pre_order_flows f ON {LIVE_FLOWS}
            WHERE {IN_RANGE} AND o.status IS NOT NULL
            GROUP BY o.status ORDER BY o.status""",  # noqa: S608
        tenant_id,
        start,
        end,
    )
    products = await conn.fetch(
        f"""SELECT f.product_id, p.name, p.sku, sum(coalesce(f.quantity, 0)) AS quantity,
                   sum(coalesce(f.weight, 0)) AS weight
            FROM pre_orders o JOIN pre_order_flows f ON {LIVE_FLOWS}
            LEFT JOIN products p ON p.tenant_id = f.tenant_id AND p.id = f.product_id
            WHERE {IN_RANGE} AND f.product_id IS NOT NULL
            GROUP BY f.product_id, p.name, p.sku
            ORDER BY quantity DESC, f.product_id LIMIT $4""",  # noqa: S608
        tenant_id,
        start,
        end,
        top,
    )
    days = await conn.fetch(
        f"""SELECT o.delivery_date AS date, count(*) AS pre_orders FROM pre_orders o
            WHERE {LIVE_ORDERS} AND o.delivery_date BETWEEN $2 AND $3
            GROUP BY o.delivery_date""",  # noqa: S608
        tenant_id,
        days_from,
        end,
    )
    partners = await conn.fetch(
        f"""SELECT o.partner_id, pa.name, count(DISTINCT o.id) AS pre_orders,
                   coalesce(sum(f.quantity), 0) AS quantity
            FROM pre_orders o LEFT JOIN pre_order_flows f ON {LIVE_FLOWS}
            LEFT JOIN partners pa ON pa.tenant_id = o.tenant_id AND pa.id = o.partner_id
            WHERE {IN_RANGE} AND o.partner_id IS NOT NULL
            GROUP BY o.partner_id, pa.name
            ORDER BY pre_orders DESC, quantity DESC, o.partner_id LIMIT $4""",  # noqa: S608
        tenant_id,
        start,
        end,
        top,
    )
    return Aggregates(
        version=version,
        by_status=[dict(r) for r in by_status],
        top_products=[dict(r) for r in products],
        per_day={r["date"]: r["pre_orders"] for r in days},
        busiest_partners=[dict(r) for r in partners],
    )


# -- the orders dashboard (seed 002) ---------------------------------------------------------
#: A pre-order's total in cents, by the one rule (`services.records.order_total`), which
#: migration 0016 writes once in SQL as the view `pre_order_totals`.
ORDER_TOTAL_JOIN = "LEFT JOIN pre_order_totals t ON t.tenant_id = o.tenant_id AND t.id = o.id"


@dataclass
class OrdersFigures:
    version: int
    by_status: list[dict[str, Any]]  # status, orders, total_cents
    by_priority: list[dict[str, Any]]  # priority, orders
    per_day: dict[datetime.date, int]


async def orders_figures(conn: Conn, tenant_id: str, since: datetime.date) -> OrdersFigures:
    """Live pre-orders counted and their totals summed by status, counted by priority, and
    counted by the UTC day of their creation from `since` on; `version` is the tenant's
    sequence when they were read."""
    version = await messages.max_seq(conn, tenant_id)
    by_status = await conn.fetch(
        f"""SELECT o.status, count(*) AS orders, coalesce(sum(t.total_cents), 0) AS total_cents
            FROM pre_orders o {ORDER_TOTAL_JOIN}
            WHERE {LIVE_ORDERS} AND o.status IS NOT NULL
            GROUP BY o.status""",  # noqa: S608
        tenant_id,
    )
    by_priority = await conn.fetch(
        f"""SELECT o.priority, count(*) AS orders FROM pre_orders o
            WHERE {LIVE_ORDERS} AND o.priority IS NOT NULL GROUP BY o.priority""",  # noqa: S608
        tenant_id,
    )
    days = await conn.fetch(
        f"""SELECT (o.created_at::timestamptz AT TIME ZONE 'UTC')::date AS day, count(*) AS orders
            FROM pre_orders o
            WHERE {LIVE_ORDERS} AND o.created_at >= $2
            GROUP BY day""",  # noqa: S608
        tenant_id,
        since.isoformat(),
    )
    return OrdersFigures(
        version=version,
        by_status=[dict(r) for r in by_status],
        by_priority=[dict(r) for r in by_priority],
        per_day={r["day"]: r["orders"] for r in days},
    )


async def order_totals(conn: Conn, tenant_id: str, ids: list[str]) -> dict[str, int | None]:
    """The totals of these pre-orders by the SQL rule (for the tests' comparison with the
    Python rule, and for anyone who needs a few)."""
    rows = await conn.fetch(
        """SELECT id::text, total_cents FROM pre_order_totals
           WHERE tenant_id = $1 AND id = ANY($2::uuid[])""",
        tenant_id,
        ids,
    )
    return {r["id"]: r["total_cents"] for r in rows}


_LATEST = "greatest(" + ", ".join(f'o.{c}_ts COLLATE "C"' for c in DATASETS["pre_orders"]) + ")"
_ORDER_ROWS = f"""SELECT o.id::text, o.status, o.priority, o.created_at, o.version,
               {_LATEST} AS stamp, pa.name AS customer, t.total_cents,
               l.record_id, l.fields -> 'order' ->> 0 AS order_key
        FROM pre_orders o {ORDER_TOTAL_JOIN}
        LEFT JOIN partners pa ON pa.tenant_id = o.tenant_id AND pa.id = o.partner_id
        LEFT JOIN LATERAL (
            SELECT record_id, fields FROM airtable_links a
            WHERE a.tenant_id = o.tenant_id AND a.pre_order_id = o.id
            ORDER BY record_id LIMIT 1) l ON true
        WHERE {LIVE_ORDERS} {{where}}
        ORDER BY coalesce(o.created_at, '') DESC, o.id DESC
        {{page}}"""  # noqa: S608


async def orders_page(
    conn: Conn, tenant_id: str, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """The number of live pre-orders and one page of them, newest first (created_at, then
    id, both descending: a stable order, on the keyset index of migration 0006), each with
    its customer's name, total, Airtable link (record id and Order ID) and latest field
    timestamp."""
    total = await conn.fetchval(
        f"SELECT count(*) FROM pre_orders o WHERE {LIVE_ORDERS}",  # noqa: S608
        tenant_id,
    )
    rows = await conn.fetch(
        _ORDER_ROWS.format(where="", page="OFFSET $2 LIMIT $3"), tenant_id, offset, limit
    )
    return int(total), [dict(r) for r in rows]


async def order_by_key(conn: Conn, tenant_id: str, key: str) -> str | None:
    """The pre-order an Airtable record id or Order ID names (the dashboard's PATCH accepts
    either, besides Recap's id)."""
    found: str | None = await conn.fetchval(
        """SELECT pre_order_id::text FROM airtable_links
           WHERE tenant_id = $1 AND (record_id = $2 OR fields -> 'order' ->> 0 = $2)
           ORDER BY record_id LIMIT 1""",
        tenant_id,
        key,
    )
    return found


async def order_row(conn: Conn, tenant_id: str, order_id: str) -> dict[str, Any] | None:
    """One live pre-order as a row of `orders_page`."""
    rows = await conn.fetch(_ORDER_ROWS.format(where="AND o.id = $2", page=""), tenant_id, order_id)
    return dict(rows[0]) if rows else None
