"""The orders dashboard over Airtable (seed 002): the summary, the paged list, a status or
priority change, and "sync now".

Hundreds of people may open the dashboard at once, so the summary is cached per tenant and
UTC day, in a `SummaryCache` of its own (the same cache the delivery-date summary uses): a
hit costs no query; concurrent misses share one computation; every commit anywhere drops the
tenant's entries (PostgreSQL NOTIFY -> `LiveHub.on_change`, wired in `app.py`), and the
writes made here (a PATCH, a sync) also drop them at once in this process, so the caller's
next summary shows its own change without waiting for the notice. An answer computed while a
change landed is returned but not kept. Airtable is never read to answer a summary: only
`sync` (and the bridge's schedule) reads it, through the bridge's shared rate limiter and
coalescing, so a crowd pressing "Sync" costs one run.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from typing import Any

import asyncpg

from crdt.message import Scalar
from crdt.schema import PRE_ORDER_STATUSES, PRIORITIES

from ..airtable.bridge import AirtableBridge
from ..airtable.orders_mapping import AIRTABLE_STATUSES
from ..auth import Principal
from ..errors import Invalid, NotFound, UpstreamFailed
from ..storage import connectors
from ..storage import summary as figures
from ..storage.records import wall_clock
from .records import Records
from .summary import Key, SummaryCache

log = logging.getLogger("recap.orders_dashboard")

#: The per-day chart: the last 30 UTC days, today included.
DAYS = 30


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


async def compute_summary(pool: asyncpg.Pool, tenant: str, today: datetime.date) -> dict[str, Any]:
    """The dashboard's figures: per status the number of orders and the sum of their totals
    (every status listed, zeros included), per priority the number of orders, and the
    orders created on each of the last 30 UTC days (zeros included, oldest first)."""
    first = today - datetime.timedelta(days=DAYS - 1)
    async with pool.acquire() as conn:
        found = await figures.orders_figures(conn, tenant, first)
    statuses = {r["status"]: r for r in found.by_status}
    by_status = [
        {
            "status": s,
            "count": int(statuses[s]["orders"]) if s in statuses else 0,
            "totalCents": int(statuses[s]["total_cents"]) if s in statuses else 0,
        }
        for s in PRE_ORDER_STATUSES
    ]
    priorities = {r["priority"]: int(r["orders"]) for r in found.by_priority}
    per_day = [
        {"date": (first + datetime.timedelta(days=i)).isoformat(), "count": 0} for i in range(DAYS)
    ]
    for day, count in found.per_day.items():
        index = (day - first).days
        if 0 <= index < DAYS:
            per_day[index]["count"] = int(count)
    return {
        "totalOrders": sum(r["count"] for r in by_status),
        "totalCents": sum(r["totalCents"] for r in by_status),
        "byStatus": by_status,
        "byPriority": [{"priority": p, "count": priorities.get(p, 0)} for p in PRIORITIES],
        "perDay": per_day,
        "generatedAt": datetime.datetime.now(datetime.UTC).isoformat(),
        "version": found.version,
    }


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "airtableRecordId": row["record_id"],
        "orderId": row["order_key"],
        "customer": row["customer"],
        "status": row["status"],
        "priority": row["priority"],
        "totalCents": row["total_cents"],
        "createdAt": row["created_at"],
        "updatedAt": wall_clock(row["stamp"]),
        "version": row["version"],
    }


class OrdersDashboard:
    def __init__(
        self,
        pool: asyncpg.Pool,
        records: Records,
        bridge: AirtableBridge,
        cache: SummaryCache,
    ) -> None:
        self.pool = pool
        self.records = records
        self.bridge = bridge
        self.cache = cache
        self._writebacks: set[asyncio.Task[Any]] = set()

    async def summary(self, tenant: str) -> dict[str, Any]:
        today = _today()
        key: Key = (tenant, today - datetime.timedelta(days=DAYS - 1), today, 0)
        return await self.cache.get(key, lambda: compute_summary(self.pool, tenant, today))

    async def page(self, tenant: str, page: int, page_size: int) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            total, rows = await figures.orders_page(conn, tenant, (page - 1) * page_size, page_size)
        return {
            "items": [_item(r) for r in rows],
            "page": page,
            "pageSize": page_size,
            "total": total,
        }

    async def _resolve(self, tenant: str, key: str) -> str:
        """Recap's id of the order `key` names: Recap's own id, or an Airtable record id or
        Order ID of a linked record."""
        try:
            return str(uuid.UUID(key))
        except ValueError:
            pass
        async with self.pool.acquire() as conn:
            found = await figures.order_by_key(conn, tenant, key)
        if found is None:
            raise NotFound("no such order")
        return found

    async def patch(
        self, who: Principal, key: str, changes: dict[str, Scalar], if_match: str | None
    ) -> dict[str, Any]:
        """Change status and/or priority (the transitions of `STATUS_TRANSITIONS` hold; an
        If-Match, when given, must name the current version). In orders mode a linked
        order's status must be one Airtable's Status can hold, and the bridge writes the
        change back to Airtable right away (in the background; its schedule would too)."""
        tenant = who.tenant_id
        order_id = await self._resolve(tenant, key)
        async with self.pool.acquire() as conn:
            mode = await connectors.mode(conn, tenant)
            linked = bool(await connectors.links(conn, tenant, "pre_order", [order_id]))
        if (
            mode == "orders"
            and linked
            and "status" in changes
            and changes["status"] not in AIRTABLE_STATUSES
        ):
            raise Invalid(
                f"status: Airtable's Status has no {changes['status']!r} "
                f"(one of: {', '.join(AIRTABLE_STATUSES)})"
            )
        await self.records.patch_preorder(who, order_id, changes, if_match or "*")
        self.cache.invalidate(tenant)
        if mode == "orders" and linked:
            task = asyncio.create_task(self.bridge.trigger(tenant, "write-back"))
            self._writebacks.add(task)
            task.add_done_callback(self._written_back)
        async with self.pool.acquire() as conn:
            row = await figures.order_row(conn, tenant, order_id)
        if row is None:  # deleted since: as if it had never been found
            raise NotFound("no such order")
        return _item(row)

    def _written_back(self, task: asyncio.Task[Any]) -> None:
        """A background write-back ended: a failed run is already recorded on the connector
        (and retried by the next run); anything else that escaped is logged here."""
        self._writebacks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("orders write-back crashed", exc_info=task.exception())

    async def sync(self, tenant: str) -> dict[str, Any]:
        """Run the bridge now (or join the run under way), then the fresh summary. A failed
        run is logged with its run id and Airtable's answer, and is a 502 `upstream_failed`
        saying what Airtable answered."""
        run = await self.bridge.trigger(tenant, "manual")
        if run.error and run.error["code"] == "not_configured":
            raise NotFound("no Airtable connector; an admin connects one first")
        self.cache.invalidate(tenant)
        if run.status != "ok":
            error = run.error or {"code": "airtable_error", "message": "the run failed"}
            log.error(
                "orders sync failed",
                extra={"tenant": tenant, "run": run.run_id, "error": error},
            )
            raise UpstreamFailed(
                f"Airtable sync failed: {error['message']}",
                airtable_code=error["code"],
                run_id=run.run_id,
            )
        return await self.summary(tenant)
