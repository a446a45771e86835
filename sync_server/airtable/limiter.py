"""Airtable allows 5 requests per second per base, and answers more with 429 and a 30-second
penalty for the whole base. Several server processes, and concurrent runs, may talk to one
base, so the budget is kept in PostgreSQL, which they all share: each request first records
its send time in the base's row (under the row lock), and waits while the base already has
`rate` sends within the window. The window is widened by a margin, because what Airtable
counts is arrival time, and the time between recording a send and its arrival varies.
"""

from __future__ import annotations

import asyncio
import datetime

import asyncpg


class SharedRateLimiter:
    def __init__(
        self, pool: asyncpg.Pool, rate: int = 5, window_s: float = 1.0, margin_s: float = 0.15
    ) -> None:
        self.pool = pool
        self.rate = rate
        self.span = datetime.timedelta(seconds=window_s + margin_s)

    async def acquire(self, base_id: str) -> None:
        """Return once this process may send one request to the base."""
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO airtable_rate (base_id) VALUES ($1) ON CONFLICT DO NOTHING",
                    base_id,
                )
                row = await conn.fetchrow(
                    """SELECT sent, penalty_until, clock_timestamp() AS now
                       FROM airtable_rate WHERE base_id = $1 FOR UPDATE""",
                    base_id,
                )
                assert row is not None
                now: datetime.datetime = row["now"]
                penalty: datetime.datetime | None = row["penalty_until"]
                recent = [t for t in row["sent"] if t > now - self.span]
                if penalty is not None and penalty > now:
                    wait = (penalty - now).total_seconds()
                elif len(recent) < self.rate:
                    await conn.execute(
                        "UPDATE airtable_rate SET sent = $2 WHERE base_id = $1",
                        base_id,
                        [*recent, now],
                    )
                    return
                else:
                    wait = (min(recent) + self.span - now).total_seconds()
            wait = max(wait, 0.005)
            await asyncio.sleep(wait)

    async def penalize(self, base_id: str, seconds: float) -> None:
        """Airtable said 429: nobody sends to this base until the penalty is over."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                """UPDATE airtable_rate SET penalty_until = greatest(
                       coalesce(penalty_until, clock_timestamp()),
                       clock_timestamp() + $2 * interval '1 second')
                   WHERE base_id = $1""",
                base_id,
                seconds,
            )
