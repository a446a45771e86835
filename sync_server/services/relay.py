"""The outbox relay: publishes business events written by `apply_messages`.

Each server process runs one. A batch of due rows is claimed with a lease
(`FOR UPDATE SKIP LOCKED`, then `next_attempt_at` pushed ahead), so several processes never
publish the same row at once and a process killed mid-publish leaves rows that become due
again when the lease ends: delivery is at least once, in id order per claim. Each row goes
to the tenant's live channel (WebSocket subscribers everywhere, through NOTIFY) and, if the
tenant set one, to its webhook; a failed webhook is retried with exponential backoff and
the row stays unpublished (`last_error` says why) until it succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
import asyncpg

from ..storage import outbox

log = logging.getLogger("recap.relay")
LEASE_S = 30
MAX_BACKOFF_S = 600


class Relay:
    def __init__(self, pool: asyncpg.Pool, interval_s: float = 0.5, batch: int = 100) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self.batch = batch
        self.published = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def _client(self) -> aiohttp.ClientSession:
        """The webhook HTTP session, opened on first use (so `run_once` also works on a
        relay whose background loop was never started)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return self._session

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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

    async def run_once(self) -> int:
        """Claim and publish one batch of due rows; the number claimed."""
        async with self.pool.acquire() as conn:
            rows = await outbox.claim_due(conn, self.batch, LEASE_S)
            if not rows:
                return 0
            hooks = await outbox.webhooks(conn, list({r["tenant_id"] for r in rows}))
            ordered = sorted(rows, key=lambda r: r["id"])
            # Live notices for the whole batch in one round trip (a big import queues
            # hundreds of thousands of events: two round trips each kept a server busy).
            await outbox.notify_events(
                conn, [{"tenant": r["tenant_id"], "event": _event(r)} for r in ordered]
            )
            published: list[int] = []
            for row in ordered:
                error = await self._deliver(row, hooks.get(row["tenant_id"]))
                if error is None:
                    published.append(row["id"])
                    continue
                self.failures += 1
                backoff = min(MAX_BACKOFF_S, 2 ** min(row["attempts"], 10))
                await outbox.mark_failed(conn, row["id"], error, backoff)
            if published:
                self.published += len(published)
                await outbox.mark_published(conn, published)
            return len(rows)

    async def _deliver(self, row: asyncpg.Record, hook: str | None) -> str | None:
        """POST the event to the tenant's webhook, if it has one; the error, or None."""
        if not hook:
            return None
        body = {
            **_event(row),
            "payload": row["payload"],
            "created_at": row["created_at"].isoformat(),
        }
        try:
            async with self._client().post(hook, json=body) as resp:
                if resp.status >= 300:
                    return f"webhook answered {resp.status}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return f"webhook failed: {exc!r}"[:500]
        return None


def _event(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "event_type": row["event_type"], "aggregate_id": row["aggregate_id"]}
