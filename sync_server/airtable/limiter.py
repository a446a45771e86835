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

from ..storage import connectors


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
            async with self.pool.acquire() as conn:
                wait = await connectors.rate_slot(conn, base_id, self.rate, self.span)
            if wait is None:
                return
            await asyncio.sleep(max(wait, 0.005))

    async def penalize(self, base_id: str, seconds: float) -> None:
        """Airtable said 429: nobody sends to this base until the penalty is over."""
        async with self.pool.acquire() as conn:
            await connectors.penalize(conn, base_id, seconds)
