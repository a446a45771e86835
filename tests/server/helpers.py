"""Setups shared by the server tests (plain functions, not fixtures: import them)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp

from recap_client import ClientReplica, SyncClient
from tests.conftest import Running, Tenant


def new_row() -> str:
    return str(uuid.uuid4())


def client(server: Running, http: aiohttp.ClientSession, token: str) -> SyncClient:
    return SyncClient(server.url, ClientReplica(), http, token)


async def alice_loses_a_quantity(
    server: Running, http: aiohttp.ClientSession, t: Tenant
) -> tuple[SyncClient, SyncClient, str, dict[str, Any]]:
    """Alice and Bob change one line's quantity offline (10, then 20); Bob's later edit
    wins. Their clients, the line, and Alice's notice (her sync reports exactly one)."""
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    flow = new_row()
    alice.replica.edit_field("pre_order_flows", flow, "quantity", 1)
    await alice.sync()
    await bob.sync()
    # Both edit the same field offline; Bob's edit is later, so it wins.
    alice.replica.edit_field("pre_order_flows", flow, "quantity", 10)
    await asyncio.sleep(0.01)
    bob.replica.edit_field("pre_order_flows", flow, "quantity", 20)
    await bob.sync()
    [conflict] = (await alice.sync()).conflicts
    return alice, bob, flow, conflict
