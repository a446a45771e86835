"""Pre-order list pages kept in memory per process, each with the tenant's message count it
was read at (issue 20's REST reads: a list page costs about 0.8 ms of PostgreSQL and 0.7 ms
of this process, so two cores top out near 1,250 pages a second, and dashboards ask for the
same first pages over and over).

Why the count, and not invalidation by NOTIFY (as the summary cache does): every change to
anything a page shows (a pre-order, its lines, its partner's or products' names, a delete)
is a message, inserted in the same transaction as the rows it changes, and messages are
never deleted, so the tenant's root count (`merkle_nodes`, path '') goes up with every
change, at its commit. A request reads the count first and the page after: a page kept at
count `n` holds at least everything committed up to `n`, and when the count still reads
`n`, nothing has committed since. So a write answered by any process is seen by the next
read on every process (a NOTIFY would reach the others only after the commit, and a read in
between would be stale). A read that finds the count moved reads the page again.

Bounded by bytes, least recently used out first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class PageCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, count: int) -> bytes | None:
        """The body kept for `key` if the tenant's count still reads as it did."""
        found = self.entries.get(key)
        if found is None or found[0] != count:
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(key)
        return found[1]

    def put(self, key: Hashable, count: int, body: bytes) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old[1])
        if len(body) > self.max_bytes:
            return
        self.entries[key] = (count, body)
        self.bytes += len(body)
        while self.bytes > self.max_bytes:
            _, (_, dropped) = self.entries.popitem(last=False)
            self.bytes -= len(dropped)
