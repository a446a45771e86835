"""GET /api/v1/summary: figures for the dashboard, computed from indexed SQL and cached per
tenant.

Hundreds of managers may ask at once. A cached answer is kept until the tenant's data
changes: every commit NOTIFYs, every process LISTENs (`LiveHub`), and the notice drops that
tenant's entries, so a hit costs no query at all. Concurrent misses for the same key share
one computation (single flight); an answer computed while a change landed is returned but
not kept (a generation counter per tenant).
"""

from __future__ import annotations

import asyncio
import datetime
from collections import defaultdict
from typing import Any

from aiohttp import web

from ..app import POOL, json_response, principal
from ..storage import Conn
from .common import parse_query
from .models import Summary, SummaryQuery
from .registry import operation

Key = tuple[str, datetime.date, datetime.date, int]
LIVE_ORDERS = "o.tenant_id = $1 AND o.tombstone IS DISTINCT FROM 1"
LIVE_FLOWS = (
    "f.tenant_id = o.tenant_id AND f.pre_order_id = o.id AND f.tombstone IS DISTINCT FROM 1"
)


class SummaryCache:
    def __init__(self) -> None:
        self.entries: dict[Key, dict[str, Any]] = {}
        self.inflight: dict[Key, asyncio.Future[dict[str, Any]]] = {}
        self.generation: dict[str, int] = defaultdict(int)
        self.computed = 0
        self.hits = 0

    def invalidate(self, tenant: str) -> None:
        self.generation[tenant] += 1
        for key in [k for k in self.entries if k[0] == tenant]:
            del self.entries[key]

    async def get(self, key: Key, compute: Any) -> dict[str, Any]:
        if key in self.entries:
            self.hits += 1
            return self.entries[key]
        if key in self.inflight:
            return await asyncio.shield(self.inflight[key])
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.inflight[key] = future
        generation = self.generation[key[0]]
        try:
            value: dict[str, Any] = await compute()
            self.computed += 1
            if self.generation[key[0]] == generation:
                self.entries[key] = value
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, no "never retrieved" warning
            raise
        finally:
            del self.inflight[key]


SUMMARY_CACHE = web.AppKey("summary_cache", SummaryCache)


async def compute_summary(conn: Conn, tenant: str, key: Key) -> dict[str, Any]:
    _, start, end, top = key
    version = await conn.fetchval(
        "SELECT coalesce(max(seq), 0) FROM messages WHERE tenant_id = $1", tenant
    )
    in_range = f"{LIVE_ORDERS} AND o.delivery_date BETWEEN $2 AND $3"
    by_status = await conn.fetch(
        f"""SELECT o.status, count(DISTINCT o.id) AS pre_orders,
                   coalesce(sum(f.quantity), 0) AS quantity, coalesce(sum(f.weight), 0) AS weight
            FROM pre_orders o LEFT JOIN pre_order_flows f ON {LIVE_FLOWS}
            WHERE {in_range} AND o.status IS NOT NULL
            GROUP BY o.status ORDER BY o.status""",  # noqa: S608
        tenant,
        start,
        end,
    )
    products = await conn.fetch(
        f"""SELECT f.product_id, p.name, p.sku, sum(coalesce(f.quantity, 0)) AS quantity,
                   sum(coalesce(f.weight, 0)) AS weight
            FROM pre_orders o JOIN pre_order_flows f ON {LIVE_FLOWS}
            LEFT JOIN products p ON p.tenant_id = f.tenant_id AND p.id = f.product_id
            WHERE {in_range} AND f.product_id IS NOT NULL
            GROUP BY f.product_id, p.name, p.sku
            ORDER BY quantity DESC, f.product_id LIMIT $4""",  # noqa: S608
        tenant,
        start,
        end,
        top,
    )
    day_start = end - datetime.timedelta(days=29)
    days = await conn.fetch(
        f"""SELECT o.delivery_date AS date, count(*) AS pre_orders FROM pre_orders o
            WHERE {LIVE_ORDERS} AND o.delivery_date BETWEEN $2 AND $3
            GROUP BY o.delivery_date""",  # noqa: S608
        tenant,
        day_start,
        end,
    )
    counts = {r["date"]: r["pre_orders"] for r in days}
    partners = await conn.fetch(
        f"""SELECT o.partner_id, pa.name, count(DISTINCT o.id) AS pre_orders,
                   coalesce(sum(f.quantity), 0) AS quantity
            FROM pre_orders o LEFT JOIN pre_order_flows f ON {LIVE_FLOWS}
            LEFT JOIN partners pa ON pa.tenant_id = o.tenant_id AND pa.id = o.partner_id
            WHERE {in_range} AND o.partner_id IS NOT NULL
            GROUP BY o.partner_id, pa.name
            ORDER BY pre_orders DESC, quantity DESC, o.partner_id LIMIT $4""",  # noqa: S608
        tenant,
        start,
        end,
        top,
    )
    summary = Summary(
        date_from=start,
        date_to=end,
        by_status=[dict(r) for r in by_status],  # type: ignore[misc]
        top_products=[dict(r) for r in products],  # type: ignore[misc]
        per_day=[
            {
                "date": day_start + datetime.timedelta(days=i),  # type: ignore[misc]
                "pre_orders": counts.get(day_start + datetime.timedelta(days=i), 0),
            }
            for i in range(30)
        ],
        busiest_partners=[dict(r) for r in partners],  # type: ignore[misc]
        generated_at=datetime.datetime.now(datetime.UTC),
        version=version,
    )
    return summary.model_dump(mode="json")


@operation(
    "GET",
    "/api/v1/summary",
    "Dashboard figures for a delivery-date range (default: 30 days back to 30 days ahead)",
    "dashboard",
    response=Summary,
    query=SummaryQuery,
    errors=[422],
)
async def get_summary(request: web.Request) -> web.Response:
    who = principal(request)
    q = parse_query(request, SummaryQuery)
    today = datetime.date.today()
    start = q.date_from or today - datetime.timedelta(days=30)
    end = q.date_to or today + datetime.timedelta(days=30)
    if end < start:
        from ..errors import invalid

        raise invalid("'to' is before 'from'")
    if (end - start).days > 3660:
        from ..errors import invalid

        raise invalid("the range is limited to ten years")
    key: Key = (who.tenant_id, start, end, q.top)
    pool = request.app[POOL]

    async def compute() -> dict[str, Any]:
        async with pool.acquire() as conn:
            return await compute_summary(conn, who.tenant_id, key)

    body = await request.app[SUMMARY_CACHE].get(key, compute)
    response = json_response(body)
    response.headers["Cache-Control"] = "private, max-age=0"
    return response
