"""The dashboard's aggregates over pre-orders and their flows, by delivery date (indexed
SQL; the service caches the answers)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

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
