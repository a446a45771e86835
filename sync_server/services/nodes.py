"""Which device each node id is, remembered in the process.

A node id is claimed by the first user who syncs with it and never changes hands, so once
a sync has confirmed the owner the answer can be reused: a device syncing every few seconds
then skips a database round trip per sync, and `last_seen` is refreshed at most once a
minute. What is remembered is (tenant, node, session): the session is bound to the node at
that first check, so revoking the device ends the session, which every request checks (its
next request is refused, in every process); a cached answer never outlives that."""

from __future__ import annotations

import time

import asyncpg

from ..auth import Principal
from ..clock import ServerClock, new_node
from ..errors import Forbidden
from ..storage import sessions, users
from ..storage.common import Conn

REFRESH_S = 60.0
MAX_ENTRIES = 100_000


class NodeOwners:
    def __init__(self) -> None:
        self._confirmed: dict[tuple[str, str, str], float] = {}

    async def claim(
        self, conn: Conn, who: Principal, node: str, user_agent: str | None = None
    ) -> None:
        """Make sure `node` is the caller's device and this session syncs it: registered on
        first use; 403 `foreign_node` if it is someone else's, `device_revoked` if it was
        revoked. Asks the database only when not remembered or due a refresh."""
        key = (who.tenant_id, node, who.session_id)
        now = time.monotonic()
        seen = self._confirmed.get(key)
        if seen is not None and now - seen < REFRESH_S:
            return
        found = await users.register_node(conn, who.tenant_id, node, who.user_id, user_agent)
        if found == "taken":
            raise Forbidden(
                "this node id belongs to another device; a new replica draws a fresh one",
                code="foreign_node",
            )
        if found == "revoked":
            raise Forbidden(
                "this device was removed from the account; export its unsynced edits",
                code="device_revoked",
            )
        await sessions.bind_node(conn, who.session_id, node)
        if len(self._confirmed) >= MAX_ENTRIES:
            self._confirmed.clear()
        self._confirmed[key] = now

    def forget(self, tenant_id: str, node: str) -> None:
        """Drop what this process remembers of a node (it was just revoked here)."""
        for key in [k for k in self._confirmed if k[:2] == (tenant_id, node)]:
            del self._confirmed[key]


async def server_clock(pool: asyncpg.Pool, max_drift_ms: int) -> ServerClock:
    """This process's clock, on a fresh node id reserved in every tenant, so no device can
    ever register it and write under the server's name."""
    async with pool.acquire() as conn:
        while True:
            node = new_node()
            if await users.reserve_server_node(conn, node):
                return ServerClock(node, max_drift_ms)
