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
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web

from .storage import NOTIFY_CHANNEL

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
            rows = await conn.fetch(
                """UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2)
                   WHERE id IN (
                       SELECT id FROM outbox
                       WHERE published_at IS NULL AND next_attempt_at <= now()
                       ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
                   RETURNING id, tenant_id::text AS tenant_id, event_type, aggregate_id::text
                       AS aggregate_id, payload, attempts, created_at""",
                self.batch,
                LEASE_S,
            )
            if not rows:
                return 0
            hooks = {
                str(r["tenant_id"]): r["webhook_url"]
                for r in await conn.fetch(
                    "SELECT tenant_id, webhook_url FROM tenant_settings "
                    "WHERE tenant_id = ANY($1::uuid[]) AND webhook_url IS NOT NULL",
                    list({r["tenant_id"] for r in rows}),
                )
            }
            ordered = sorted(rows, key=lambda r: r["id"])
            # Live notices for the whole batch in one round trip (a big import queues
            # hundreds of thousands of events: two round trips each kept a server busy).
            notices = [{"tenant": r["tenant_id"], "event": _event(r)} for r in ordered]
            await conn.executemany(
                "SELECT pg_notify($1, $2)",
                [(NOTIFY_CHANNEL, orjson.dumps(n).decode()) for n in notices],
            )
            published: list[int] = []
            for row in ordered:
                error = await self._deliver(row, hooks.get(row["tenant_id"]))
                if error is None:
                    published.append(row["id"])
                    continue
                self.failures += 1
                backoff = min(MAX_BACKOFF_S, 2 ** min(row["attempts"], 10))
                await conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, "
                    "next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                    row["id"],
                    error,
                    backoff,
                )
            if published:
                self.published += len(published)
                await conn.execute(
                    "UPDATE outbox SET published_at = now(), attempts = attempts + 1, "
                    "last_error = NULL WHERE id = ANY($1::bigint[])",
                    published,
                )
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


RELAY = web.AppKey("relay", Relay)


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    from .app import POOL, SETTINGS

    relay = Relay(app[POOL], interval_s=app[SETTINGS].relay_interval_s)
    app[RELAY] = relay
    if app[SETTINGS].relay_enabled:
        await relay.start()
    yield
    await relay.stop()
