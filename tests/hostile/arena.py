"""An arena for hostile-device tests: a tenant on a running server, honest devices (the real
Python client) whose acknowledged edits are tracked, and a hostile one that sends whatever it
likes. `converged()` is the promise under test: every honest replica, and a new one, reaches
the server's root, and every edit the server acknowledged is there."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from crdt.message import Message
from recap_client import ClientReplica, SyncClient, SyncReport
from tests.conftest import Tenant, db_fetch


def new_row() -> str:
    return str(uuid.uuid4())


@dataclass
class Arena:
    url: str
    http: aiohttp.ClientSession
    tenant: Tenant
    db_url: str
    honest: dict[str, SyncClient] = field(default_factory=dict)
    #: timestamps of honest edits the server acknowledged (pushed and answered 200)
    acked: set[str] = field(default_factory=set)

    def device(self, user: str) -> SyncClient:
        """A new honest device of `user`: a fresh replica, hence a fresh node id."""
        return SyncClient(self.url, ClientReplica(), self.http, self.tenant.token(user))

    def join(self, name: str, user: str) -> SyncClient:
        self.honest[name] = self.device(user)
        return self.honest[name]

    async def sync(self, client: SyncClient) -> SyncReport:
        """An honest sync, which must not fail; what it pushed is acknowledged."""
        report = await client.sync()
        replica = client.replica
        assert not replica.outbox
        self.acked |= {t for t, m in replica.log.items() if m.node == replica.node}
        return report

    async def post(self, user: str, payload: Any) -> tuple[int, Any]:
        """A raw request, as a hostile device sends it."""
        headers = {"Authorization": f"Bearer {self.tenant.token(user)}"}
        async with self.http.post(
            self.url + "/sync", data=orjson.dumps(payload), headers=headers
        ) as resp:
            raw = await resp.read()
            return resp.status, orjson.loads(raw) if raw else None

    async def push(self, user: str, node: str, messages: list[dict[str, Any]]) -> tuple[int, Any]:
        return await self.post(user, {"node": node, "messages": messages})

    async def stored(self) -> dict[str, tuple[str, str, str, Any]]:
        """The tenant's log on the server: timestamp -> (dataset, row, column, value)."""
        rows = await db_fetch(
            self.db_url,
            "SELECT timestamp, dataset, row_id, col, value FROM messages WHERE tenant_id = $1",
            self.tenant.id,
        )
        return {
            r["timestamp"]: (r["dataset"], r["row_id"], r["col"], orjson.loads(r["value"]))
            for r in rows
        }

    async def server_root(self) -> tuple[int, int]:
        headers = {"Authorization": f"Bearer {self.tenant.token('carla')}"}
        async with self.http.get(self.url + "/debug/merkle?depth=0", headers=headers) as resp:
            assert resp.status == 200
            body = await resp.json()
        return body["root_hash"], body["count"]

    async def converged(self) -> None:
        """Every honest replica, and a new device, sync without failing, reach the server's
        root and hold exactly its log; every acknowledged edit is in it."""
        newcomer = self.device("bob")
        clients = [*self.honest.items(), ("a new device", newcomer)]
        for _ in range(2):  # the first pass pushes what each holds, the second brings it all
            for _, client in clients:
                await self.sync(client)
        stored = await self.stored()
        root = await self.server_root()
        assert self.acked <= set(stored), sorted(self.acked - set(stored))[:5]
        for name, client in clients:
            replica = client.replica
            assert (replica.trie.get("") or (0, 0)) == root, name
            assert set(replica.log) == set(stored), name
        states = [client.replica.state() for _, client in clients]
        assert all(state == states[0] for state in states)


def edit(replica: ClientReplica, value: Any = 1, column: str = "quantity") -> Message:
    """An honest edit: one field of a new order line."""
    return replica.edit_field("pre_order_flows", new_row(), column, value)


def forged(node: str | None = None) -> ClientReplica:
    """A replica a hostile device controls (its own fresh node, unless it borrows one)."""
    return ClientReplica(node or secrets.token_hex(8))
