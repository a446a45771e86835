"""What callers may take of a process: requests per principal (token buckets; each server
process enforces its own share) and memory for request bodies (`BodyBudget`).

Bounded: past `MAX_BUCKETS`, the buckets that have refilled since (the same as no bucket)
are dropped, so memory follows the callers active within a burst's refill time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from .errors import Unavailable

MAX_BUCKETS = 10_000


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, cost: float = 1.0) -> float:
        """0 if allowed now, else the seconds to wait before retrying."""
        now = time.monotonic()
        if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
            self._prune(now)
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (cost - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate if self.rate > 0 else float("inf")
        for key in [k for k, (_, last) in self._buckets.items() if now - last >= full_after]:
            del self._buckets[key]


class BodyBudget:
    """Bytes of request bodies being read and parsed at once in this process, in total and
    per holder (a user, or an address for requests without one). A body reserves its size
    (its Content-Length, or the largest allowed if it does not say) and waits while either
    is spent; after `wait_s` it is refused with 503 and Retry-After. So a burst of large
    bodies costs waiting, not memory (a maximal push parses into objects more than ten
    times its size), and one holder cannot take the whole budget."""

    def __init__(self, budget: int, per_holder: int) -> None:
        self.budget = budget
        self.per_holder = min(per_holder, budget)
        self.in_use = 0
        self.held: dict[str, int] = {}
        self.refused = 0
        self._freed = asyncio.Condition()

    def _fits(self, holder: str, size: int) -> bool:
        return (
            self.in_use + size <= self.budget and self.held.get(holder, 0) + size <= self.per_holder
        )

    @contextlib.asynccontextmanager
    async def reserve(self, holder: str, size: int, wait_s: float) -> AsyncIterator[None]:
        size = min(size, self.per_holder)
        try:
            async with asyncio.timeout(wait_s), self._freed:
                await self._freed.wait_for(lambda: self._fits(holder, size))
                self.in_use += size
                self.held[holder] = self.held.get(holder, 0) + size
        except TimeoutError:
            self.refused += 1
            raise Unavailable(
                "the server is reading other large requests; retry shortly",
                code="busy",
                retry_after_s=2,
            ) from None
        try:
            yield
        finally:
            async with self._freed:
                self.in_use -= size
                left = self.held[holder] - size
                if left:
                    self.held[holder] = left
                else:
                    del self.held[holder]
                self._freed.notify_all()
