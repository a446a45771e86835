"""Seed 000, the recap (`../shared/seeds/000_*.txt`), checked by its own terms: its data
model (a PreOrderFlow has `status` and `updated_at`), its nine actions made by two reps
working offline on the same pre-order and converging, the pending <-> confirmed toggle,
and seed data worth looking at (creation times spread over weeks, lines with statuses)."""

from __future__ import annotations

import collections
import datetime
import random
import uuid

import aiohttp
import asyncpg

from recap_client import ClientReplica, SyncClient
from seed import seed_demo
from sync_server.database import _init_connection
from tests.conftest import MakeTenant, Running
from tests.server.test_rest import API, api, rep

#: The document's entities and fields, as the REST documents show them.
PRE_ORDER_FIELDS = {"id", "partner_id", "delivery_date", "status", "created_at", "updated_at"}
FLOW_FIELDS = {"id", "pre_order_id", "product_id", "weight", "quantity", "status", "updated_at"}


async def test_the_data_model_and_the_nine_actions_by_two_reps_offline(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    nordic, alpine = await carla.create_partner("Nordic"), await carla.create_partner("Alpine")
    apples = await carla.create_product("Apples", "AP")
    pears = await carla.create_product("Pears", "PE")
    alice, bob = rep(server, http, t, "alice"), rep(server, http, t, "bob")
    await alice.sync()
    await bob.sync()

    # Create pre-order (Alice), add two flows; both reps then see it.
    order, first, second = (str(uuid.uuid4()) for _ in range(3))
    alice.replica.edit_row(
        "pre_orders",
        order,
        {
            "partner_id": nordic,
            "delivery_date": "2026-12-07",
            "status": "pending",
            "created_at": "2026-12-01T09:00:00Z",
            "tombstone": 0,
        },
    )
    for flow, product in ((first, apples), (second, pears)):
        alice.replica.edit_row(
            "pre_order_flows",
            flow,
            {"pre_order_id": order, "product_id": product, "quantity": 4, "status": "open"},
        )
    await alice.sync()
    await bob.sync()

    # Offline, at once: Alice changes the partner, toggles the status, changes a product
    # and removes a flow; Bob switches the date, changes a quantity and adds a flow.
    alice.replica.edit_field("pre_orders", order, "partner_id", alpine)
    alice.replica.edit_field("pre_orders", order, "status", "confirmed")
    alice.replica.edit_field("pre_order_flows", first, "product_id", pears)
    alice.replica.edit_field("pre_order_flows", second, "tombstone", 1)
    third = str(uuid.uuid4())
    bob.replica.edit_field("pre_orders", order, "delivery_date", "2026-12-08")
    bob.replica.edit_field("pre_order_flows", first, "quantity", 9)
    bob.replica.edit_row(
        "pre_order_flows",
        third,
        {"pre_order_id": order, "product_id": apples, "quantity": 2, "tombstone": 0},
    )
    await bob.sync()
    await alice.sync()
    await bob.sync()

    # Every edit survived (they touched different fields) and both replicas agree.
    assert alice.replica.rows("pre_orders") == bob.replica.rows("pre_orders")
    assert alice.replica.rows("pre_order_flows") == bob.replica.rows("pre_order_flows")
    got = (await carla.get(f"{API}/preorders/{order}")).body
    assert set(got) >= PRE_ORDER_FIELDS
    assert (got["partner_id"], got["delivery_date"], got["status"]) == (
        alpine,
        "2026-12-08",
        "confirmed",
    )
    flows = {f["id"]: f for f in got["flows"]}
    assert set(flows) == {first, third}  # the removed flow is gone
    for f in flows.values():
        assert set(f) >= FLOW_FIELDS
        assert f["updated_at"] is not None
    assert (flows[first]["product_id"], flows[first]["quantity"]) == (pears, 9)
    assert flows[first]["status"] == "open"

    # Toggle back to pending; then delete the pre-order: gone for both reps.
    bob.replica.edit_field("pre_orders", order, "status", "pending")
    await bob.sync()
    assert (await carla.get(f"{API}/preorders/{order}")).body["status"] == "pending"
    alice.replica.edit_field("pre_orders", order, "tombstone", 1)
    await alice.sync()
    await bob.sync()
    assert order not in bob.replica.rows("pre_orders")  # live rows only
    assert (await carla.get(f"{API}/preorders/{order}")).status == 404


async def test_concurrent_edits_of_one_field_converge_on_every_replica(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """The document's "Handle conflicts": two reps change one quantity offline; whatever
    order they sync in, every replica (and the server) ends with the same value."""
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    product = await carla.create_product("Apples", "AP")
    order = await carla.new_order(partner, flows=[{"product_id": product, "quantity": 1}])
    flow = order["flows"][0]["id"]
    replicas = [rep(server, http, t, who) for who in ("alice", "bob", "alice")]
    for r in replicas:
        await r.sync()
    for i, r in enumerate(replicas):
        r.replica.edit_field("pre_order_flows", flow, "quantity", 10 + i)
    for r in (*replicas, *replicas):
        await r.sync()
    values = {r.replica.rows("pre_order_flows")[flow]["quantity"] for r in replicas}
    [final] = values
    got = (await carla.get(f"{API}/preorders/{order['id']}")).body["flows"][0]["quantity"]
    assert got == final


async def test_the_seed_data_spreads_over_weeks_with_lines_and_statuses(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await _init_connection(conn)
        users = await seed_demo(conn, random.Random(5), days=14)
        tenant = await conn.fetchval("SELECT tenant_id FROM users WHERE id = $1", users[0].id)
        orders = await conn.fetch(
            "SELECT created_at, status, priority, created_by FROM pre_orders WHERE tenant_id = $1",
            tenant,
        )
        lines = await conn.fetch(
            "SELECT status, price_cents FROM pre_order_flows WHERE tenant_id = $1", tenant
        )
        prices = await conn.fetch(
            "SELECT unit_price_cents FROM products WHERE tenant_id = $1", tenant
        )
    finally:
        await conn.close()
    days = {datetime.date.fromisoformat(o["created_at"][:10]) for o in orders}
    assert len(orders) > 100 and len(days) >= 14 and max(days) - min(days) >= datetime.timedelta(21)
    # Creation times are spread, not one second shared by the orders still to come, and
    # none is in the future.
    seconds = collections.Counter(o["created_at"] for o in orders)
    assert max(seconds.values()) <= 3, seconds.most_common(3)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert max(seconds) <= now
    assert {o["status"] for o in orders} >= {"pending", "confirmed", "delivered", "closed"}
    assert {o["priority"] for o in orders} == {"low", "medium", "high"}
    assert len({o["created_by"] for o in orders}) == 2  # the two reps
    assert {line["status"] for line in lines} >= {"open", "confirmed"}
    assert all(p["unit_price_cents"] for p in prices)


async def test_a_rep_who_never_synced_gets_everything_in_one_bootstrap(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """'Data freshness': a new device (a laptop bought today) converges to the server."""
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    for _ in range(3):
        await carla.new_order(partner)
    fresh = SyncClient(server.url, ClientReplica(), http, t.token("bob"))
    await fresh.sync()
    listed = {o["id"] for o in await carla.pages("", 50)}
    live = set(fresh.replica.rows("pre_orders"))  # live rows only
    assert live == listed
