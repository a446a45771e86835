"""Which user owns each device node, remembered in the process.

A node id is claimed by the first user who syncs with it and never changes hands (the row
in `nodes` is only ever touched again for `last_seen`), so once a sync has confirmed the
owner the answer can be reused: a device syncing every few seconds then skips a database
round trip per sync, and `last_seen` is refreshed at most once a minute."""

from __future__ import annotations

import time

import asyncpg

from ..clock import ServerClock, new_node
from ..storage import users
from ..storage.common import Conn

REFRESH_S = 60.0
MAX_ENTRIES = 100_000


class NodeOwners:
    def __init__(self) -> None:
        self._confirmed: dict[tuple[str, str], tuple[str, float]] = {}

    async def owns(self, conn: Conn, tenant_id: str, node: str, user_id: str) -> bool:
        """True if `node` is (now) this user's device; False if another user owns it. Asks
        the database only when the answer is not remembered or is due a refresh."""
        key = (tenant_id, node)
        known = self._confirmed.get(key)
        now = time.monotonic()
        if known is not None and (known[0] != user_id or now - known[1] < REFRESH_S):
            return known[0] == user_id
        if not await users.register_node(conn, tenant_id, node, user_id):
            return False
        if len(self._confirmed) >= MAX_ENTRIES:
            self._confirmed.clear()
        self._confirmed[key] = (user_id, now)
        return True


async def server_clock(pool: asyncpg.Pool, max_drift_ms: int) -> ServerClock:
    """This process's clock, on a fresh node id reserved in every tenant, so no device can
    ever register it and write under the server's name."""
    async with pool.acquire() as conn:
        while True:
            node = new_node()
            if await users.reserve_server_node(conn, node):
                return ServerClock(node, max_drift_ms)
