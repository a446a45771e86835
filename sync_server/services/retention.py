"""The retention job: every `interval_s`, in one process at a time, delete what has aged out
(`storage/retention.py`), in batches, and say what it deleted.

How long each kind of row is kept:

* published business events: `outbox_retention_days` (default 30). The events feed and
  webhooks are for integrations that keep up; one that falls further behind than that
  re-reads the current state from the REST API. Unpublished events are never pruned.
* idempotency keys: one day past their 24 h life;
* failed sign-ins: one day (the throttling window is 15 minutes);
* sessions and invite or reset links: 30 days after they ended or expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging

import asyncpg

from ..storage import retention
from .records import IDEMPOTENCY_TTL

log = logging.getLogger("recap.retention")
DAY = datetime.timedelta(days=1)


class Retention:
    def __init__(
        self,
        pool: asyncpg.Pool,
        interval_s: float = 3600.0,
        outbox_days: int = 30,
        batch: int = 5000,
    ) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self.batch = batch
        self.ages = {
            "outbox": datetime.timedelta(days=outbox_days),
            "idempotency_keys": IDEMPOTENCY_TTL + DAY,
            "login_failures": DAY,
            "user_tokens": 30 * DAY,
            "sessions": 30 * DAY,
        }
        self.deleted: dict[str, int] = dict.fromkeys(self.ages, 0)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("retention pass failed: %s", exc)
            await asyncio.sleep(self.interval_s)

    async def run_once(self) -> dict[str, int] | None:
        """One pass: the rows deleted per table, or None if another process is pruning."""
        async with self.pool.acquire() as conn:
            if not await retention.try_lock(conn):
                return None
            try:
                deleted = {}
                for table, age in self.ages.items():
                    total = 0
                    while True:
                        n = await retention.prune(conn, table, age, self.batch)
                        total += n
                        if n < self.batch:
                            break
                    deleted[table] = total
                    self.deleted[table] += total
            finally:
                await retention.unlock(conn)
        if any(deleted.values()):
            log.info("pruned", extra={"deleted": deleted})
        return deleted
