"""Dashboard figures, computed from indexed SQL (`storage.summary`) and cached per tenant.

Hundreds of managers may ask at once. A cached answer is kept until the tenant's data
changes: every commit NOTIFYs, every process LISTENs (`LiveHub`), and the notice drops that
tenant's entries, so a hit costs no query at all. Concurrent misses for the same key share
one computation (single flight); an answer computed while a change landed is returned but
not kept (a generation counter per tenant). The cache holds at most `max_entries` answers,
least recently used out first: a client asking for thousands of date ranges costs queries,
not memory.
"""

from __future__ import annotations

import asyncio
import datetime
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from ..models import Summary
from ..storage import summary as figures

Key = tuple[str, datetime.date, datetime.date, int]


class SummaryCache:
    def __init__(self, max_entries: int = 1000) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self.inflight: dict[Key, asyncio.Future[dict[str, Any]]] = {}
        self.generation: dict[str, int] = defaultdict(int)
        self.computed = 0
        self.hits = 0
        self.evicted = 0

    def invalidate(self, tenant: str) -> None:
        self.generation[tenant] += 1
        for key in [k for k in self.entries if k[0] == tenant]:
            del self.entries[key]

    async def get(
        self, key: Key, compute: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        if key in self.entries:
            self.hits += 1
            self.entries.move_to_end(key)
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
                while len(self.entries) > self.max_entries:
                    self.entries.popitem(last=False)
                    self.evicted += 1
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, no "never retrieved" warning
            raise
        finally:
            del self.inflight[key]


async def compute(pool: asyncpg.Pool, key: Key) -> dict[str, Any]:
    """The figures of one key, as the API's `Summary` document."""
    tenant, start, end, top = key
    async with pool.acquire() as conn:
        found = await figures.aggregates(conn, tenant, start, end, top, start)
    # The per-day chart covers exactly the range (issue 19: it showed the last 30 days).
    days = [start + datetime.timedelta(days=i) for i in range((end - start).days + 1)]
    summary = Summary.model_validate(
        {
            "date_from": start,
            "date_to": end,
            "by_status": found.by_status,
            "top_products": found.top_products,
            "per_day": [{"date": d, "pre_orders": found.per_day.get(d, 0)} for d in days],
            "busiest_partners": found.busiest_partners,
            "generated_at": datetime.datetime.now(datetime.UTC),
            "version": found.version,
        }
    )
    return summary.model_dump(mode="json")


async def summary_for(cache: SummaryCache, pool: asyncpg.Pool, key: Key) -> dict[str, Any]:
    """The figures of `key`, from the cache or computed once however many ask at once."""
    return await cache.get(key, lambda: compute(pool, key))
