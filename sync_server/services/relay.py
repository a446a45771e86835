"""The outbox relay: publishes business events written by `apply_messages`.

Each server process runs one. A batch of due rows is claimed with a lease
(`FOR UPDATE SKIP LOCKED`, then `next_attempt_at` pushed ahead), so several processes never
publish the same row at once and a process killed mid-publish leaves rows that become due
again when the lease ends: delivery is at least once. Each row goes to the tenant's live
channel (WebSocket subscribers everywhere, through NOTIFY) and, if the tenant set one, to
its webhook (`webhooks.py`: public addresses only, no redirects).

Tenants are delivered concurrently, each by one task at a time in id order: a tenant whose
endpoint hangs holds only its own task (its rows are left out of later claims while it
runs), never another tenant's events. A failed delivery is retried with exponential
backoff; the tenant's later rows wait with it, so its events stay in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

import aiohttp
import asyncpg

from ..storage import outbox
from . import webhooks

log = logging.getLogger("recap.relay")
LEASE_S = 60
MAX_BACKOFF_S = 600
#: Tenants delivered at once by one process.
CONCURRENT_TENANTS = 32


class Relay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        interval_s: float = 0.5,
        batch: int = 100,
        allow: list[webhooks.Network] | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self.batch = batch
        self.allow = allow or []
        self.timeout_s = timeout_s
        self.published = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._busy: set[str] = set()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(CONCURRENT_TENANTS)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def _client(self) -> aiohttp.ClientSession:
        """The webhook HTTP session, opened on first use (so `run_once` also works on a
        relay whose background loop was never started)."""
        if self._session is None or self._session.closed:
            self._session = webhooks.session(self.allow, self.timeout_s)
        return self._session

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            try:
                while await self.run_once() == self.batch:
                    pass
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("relay pass failed: %s", exc)
            await asyncio.sleep(self.interval_s)

    async def run_once(self, wait: bool = False) -> int:
        """Claim one batch of due rows (of tenants not being delivered now), notify them to
        live subscribers, and start each tenant's deliveries; the number claimed. With
        `wait`, return only once those deliveries are done (tests)."""
        async with self.pool.acquire() as conn:
            rows = await outbox.claim_due(conn, self.batch, LEASE_S, sorted(self._busy))
            if not rows:
                return 0
            hooks = await outbox.webhooks(conn, list({r["tenant_id"] for r in rows}))
            ordered = sorted(rows, key=lambda r: r["id"])
            # Live notices for the whole batch in one round trip (a big import queues
            # hundreds of thousands of events: two round trips each kept a server busy).
            await outbox.notify_events(
                conn, [{"tenant": r["tenant_id"], "event": _event(r)} for r in ordered]
            )
        by_tenant: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for row in ordered:
            by_tenant[row["tenant_id"]].append(row)
        started = []
        for tenant, tenant_rows in by_tenant.items():
            self._busy.add(tenant)
            task = asyncio.create_task(self._deliver_tenant(tenant, tenant_rows, hooks.get(tenant)))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
            started.append(task)
        if wait:
            await asyncio.gather(*started)
        return len(rows)

    async def _deliver_tenant(
        self, tenant: str, rows: list[asyncpg.Record], hook: str | None
    ) -> None:
        """One tenant's rows, in id order, stopping at the first failure (the rest wait as
        long as it does, so the tenant's events stay in order)."""
        try:
            published: list[int] = []
            async with self._slots:
                leased_at = time.monotonic()
                for i, row in enumerate(rows):
                    if time.monotonic() - leased_at > LEASE_S / 2:
                        # Slow endpoint: keep the rest leased, or another process would
                        # take them and deliver out of order.
                        async with self.pool.acquire() as conn:
                            await outbox.postpone(
                                conn, tenant, [r["id"] for r in rows[i:]], LEASE_S
                            )
                        leased_at = time.monotonic()
                    error = await self._deliver(row, hook)
                    if error is None:
                        published.append(row["id"])
                        continue
                    self.failures += 1
                    backoff = min(MAX_BACKOFF_S, 2 ** min(row["attempts"], 10))
                    async with self.pool.acquire() as conn:
                        await outbox.mark_failed(conn, tenant, row["id"], error, backoff)
                        await outbox.postpone(
                            conn, tenant, [r["id"] for r in rows[i + 1 :]], backoff
                        )
                    break
            if published:
                self.published += len(published)
                async with self.pool.acquire() as conn:
                    await outbox.mark_published(conn, tenant, published)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("relay delivery failed: %s", exc, extra={"tenant": tenant})
        finally:
            self._busy.discard(tenant)

    async def _deliver(self, row: asyncpg.Record, hook: str | None) -> str | None:
        """POST the event to the tenant's webhook, if it has one; the error, or None. A
        redirect is not followed (it could point anywhere): it counts as a failure."""
        if not hook:
            return None
        body = {
            **_event(row),
            "payload": row["payload"],
            "created_at": row["created_at"].isoformat(),
        }
        try:
            await webhooks.check_target(hook, self.allow)
            async with self._client().post(hook, json=body, allow_redirects=False) as resp:
                if resp.status >= 300:
                    return f"webhook answered {resp.status}"
        except webhooks.TargetRefused as exc:
            return exc.message[:500]
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return f"webhook failed: {exc!r}"[:500]
        return None


def _event(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "event_type": row["event_type"], "aggregate_id": row["aggregate_id"]}
