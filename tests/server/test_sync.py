"""Push/pull round trips through the real server and PostgreSQL."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from recap_client import ClientReplica, SyncClient
from tests.conftest import MakeServer, MakeTenant, Running, Tenant, db_fetch
from tests.server.helpers import alice_loses_a_quantity, new_row


def client(server: Running, http: aiohttp.ClientSession, token: str, **kw: object) -> SyncClient:
    return SyncClient(server.url, ClientReplica(), http, token, **kw)  # type: ignore[arg-type]


db_rows = db_fetch


async def test_push_then_pull_between_two_reps(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t: Tenant = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    order = new_row()
    alice.replica.edit_row(
        "pre_orders",
        order,
        {
            "partner_id": new_row(),
            "delivery_date": "2026-11-24",
            "status": "pending",
            "tombstone": 0,
        },
    )
    report = await alice.sync()
    assert report.pushed == 4 and not alice.replica.outbox
    await bob.sync()
    assert bob.replica.rows("pre_orders")[order]["status"] == "pending"
    assert bob.replica.trie.get("") == alice.replica.trie.get("")
    rows = await db_rows(server.db_url, "SELECT status, delivery_date::text FROM pre_orders")
    assert [(r["status"], r["delivery_date"]) for r in rows] == [("pending", "2026-11-24")]


async def test_retrying_the_same_push_is_harmless(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    replica = ClientReplica()
    flow = new_row()
    msgs = replica.edit_row("pre_order_flows", flow, {"quantity": 3, "weight": 1.5})
    payload = {"node": replica.node, "messages": [m.to_json() for m in msgs]}
    headers = {"Authorization": f"Bearer {t.token('alice')}"}
    for _ in range(3):
        async with http.post(server.url + "/sync", json=payload, headers=headers) as resp:
            assert resp.status == 200
    rows = await db_rows(server.db_url, "SELECT count(*) AS n FROM messages")
    assert rows[0]["n"] == 2
    nodes = await db_rows(server.db_url, "SELECT hash, count FROM merkle_nodes WHERE path = ''")
    assert (nodes[0]["hash"], nodes[0]["count"]) == replica.trie.get("")


async def test_out_of_order_batches_end_in_the_same_state(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    writer = ClientReplica()
    flow = new_row()
    msgs = [writer.edit_field("pre_order_flows", flow, "quantity", q) for q in range(1, 6)]
    headers = {"Authorization": f"Bearer {t.token('alice')}"}
    for m in reversed(msgs):
        async with http.post(
            server.url + "/sync",
            headers=headers,
            json={"node": writer.node, "messages": [m.to_json()]},
        ) as resp:
            assert resp.status == 200
    rows = await db_rows(server.db_url, "SELECT quantity, quantity_ts FROM pre_order_flows")
    assert (rows[0]["quantity"], rows[0]["quantity_ts"]) == (5, msgs[-1].timestamp)


async def test_concurrent_pushes_to_the_same_fields_converge(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    flows = [new_row() for _ in range(5)]
    clients = [client(server, http, t.token(n)) for n in ("alice", "bob", "carla")]
    for i, c in enumerate(clients):
        for flow in flows:
            for q in range(10):
                c.replica.edit_field("pre_order_flows", flow, "quantity", i * 100 + q)
    await asyncio.gather(*(c.sync() for c in clients))
    for c in clients:
        await c.sync()
    states = [c.replica.state() for c in clients]
    assert states[0] == states[1] == states[2]
    expected = {f: clients[0].replica.rows("pre_order_flows")[f]["quantity"] for f in flows}
    rows = await db_rows(server.db_url, "SELECT id::text, quantity FROM pre_order_flows")
    assert {r["id"]: r["quantity"] for r in rows} == expected
    count = await db_rows(server.db_url, "SELECT count(*) AS n FROM messages")
    assert count[0]["n"] == 150


async def test_catch_up_is_paged_and_complete(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    server = await make_server(page_messages=100)
    t = await make_tenant()
    writer = client(server, http, t.token("alice"))
    for i in range(250):
        writer.replica.edit_row("products", new_row(), {"name": f"P{i}", "sku": f"S{i}"})
    await writer.sync()
    reader = client(server, http, t.token("bob"))
    report = await reader.sync()
    assert report.received == 500
    assert report.requests >= 5  # 500 messages in pages of 100
    assert reader.replica.state() == writer.replica.state()


async def test_push_larger_than_one_request_is_split(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    server = await make_server(max_messages_per_request=50)
    t = await make_tenant()
    writer = client(server, http, t.token("alice"), push_limit=50)
    for i in range(60):
        writer.replica.edit_row("products", new_row(), {"name": f"P{i}", "sku": f"S{i}"})
    await writer.sync()
    assert not writer.replica.outbox
    rows = await db_rows(server.db_url, "SELECT count(*) AS n FROM messages")
    assert rows[0]["n"] == 120


async def test_conflict_is_reported_to_both_reps(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, bob, _, conflict = await alice_loses_a_quantity(server, http, t)
    assert conflict["kind"] == "superseded"
    assert conflict["yours"] == "loser"
    assert conflict["loser"]["value"] == 10 and conflict["winner"]["value"] == 20
    # As sent: a whole quantity read back from its double precision column is not 10.0.
    assert type(conflict["loser"]["value"]) is int and type(conflict["winner"]["value"]) is int
    assert conflict["winner"]["user_name"] == "Bob"
    bob_report = await bob.sync()
    assert [c["yours"] for c in bob_report.conflicts] == ["winner"]
    assert alice.replica.state() == bob.replica.state()


async def test_sequential_edits_by_two_reps_are_not_conflicts(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    flow = new_row()
    alice.replica.edit_field("pre_order_flows", flow, "quantity", 1)
    await alice.sync()
    await bob.sync()
    bob.replica.edit_field("pre_order_flows", flow, "quantity", 2)
    report = await bob.sync()
    assert report.conflicts == []
    assert (await alice.sync()).conflicts == []


async def test_delete_against_an_edit_reports_the_lost_edit(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    order = new_row()
    alice.replica.edit_row("pre_orders", order, {"status": "pending", "tombstone": 0})
    await alice.sync()
    await bob.sync()
    alice.replica.edit_field("pre_orders", order, "tombstone", 1)
    await asyncio.sleep(0.01)
    bob.replica.edit_field("pre_orders", order, "status", "confirmed")
    await alice.sync()
    report = await bob.sync()
    assert [(c["kind"], c["yours"]) for c in report.conflicts] == [("deleted", "loser")]
    await alice.sync()
    assert order not in alice.replica.rows("pre_orders")
    assert order not in bob.replica.rows("pre_orders")
    assert alice.replica.state() == bob.replica.state()


@pytest.mark.parametrize("skew_ms", [3 * 3600_000, -3 * 3600_000])
async def test_a_client_with_a_skewed_clock_still_syncs(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant, skew_ms: int
) -> None:
    """Ahead by hours: the server refuses the future stamps, the client learns the offset and
    re-stamps its unsent edits. Behind by hours: the backdated edits are valid and kept as
    stamped; either way the offset is corrected, so the next edit is stamped right."""
    import time

    from crdt.timestamp import millis_of

    t = await make_tenant()
    skewed = client(server, http, t.token("alice"))
    skewed.replica.offset_ms = skew_ms  # as if the device clock were off by hours
    flow = new_row()
    first = skewed.replica.edit_field("pre_order_flows", flow, "quantity", 7)
    await skewed.sync()
    assert abs(skewed.replica.offset_ms) < 1000
    reader = client(server, http, t.token("bob"))
    await reader.sync()
    assert reader.replica.rows("pre_order_flows")[flow]["quantity"] == 7
    stored = await db_rows(server.db_url, "SELECT timestamp FROM messages")
    [stamp] = [r["timestamp"] for r in stored]
    if skew_ms > 0:
        assert stamp != first.timestamp  # re-stamped
        assert abs(millis_of(stamp) - time.time() * 1000) < 60_000
    else:
        assert stamp == first.timestamp  # kept as stamped
    later = skewed.replica.edit_field("pre_order_flows", flow, "quantity", 8)
    assert abs(millis_of(later.timestamp) - time.time() * 1000) < 60_000
    await skewed.sync()
    await reader.sync()
    assert reader.replica.rows("pre_order_flows")[flow]["quantity"] == 8


async def test_concurrent_pushes_of_one_tenant_share_transactions(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """Group commit: pushes that arrive while a tenant's transaction runs are applied
    together in the next one, and each caller still gets its own acknowledgement."""
    from sync_server.keys import WRITER

    t = await make_tenant()
    clients = [client(server, http, t.token("alice")) for _ in range(30)]
    for c in clients:
        c.replica.edit_row("products", new_row(), {"name": "P", "sku": "S"})
    writer = server.app[WRITER]
    before = writer.transactions
    await asyncio.gather(*(c.sync() for c in clients))
    assert all(not c.replica.outbox for c in clients)
    assert writer.pushes >= 30
    assert writer.transactions - before < 30
    rows = await db_rows(
        server.db_url, "SELECT count(*) AS n, count(DISTINCT user_id) AS u FROM messages"
    )
    assert rows[0]["n"] == 60


async def test_metrics_count_syncs_messages_and_conflicts(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    flow = new_row()
    alice.replica.edit_field("pre_order_flows", flow, "quantity", 1)
    bob.replica.edit_field("pre_order_flows", flow, "quantity", 2)
    await alice.sync()
    await bob.sync()
    async with http.get(server.url + "/metrics") as resp:
        assert resp.status == 401  # not for anyone: an admin's token
    async with http.get(
        server.url + "/metrics", headers={"Authorization": f"Bearer {t.token('alice')}"}
    ) as resp:
        assert resp.status == 403
    async with http.get(
        server.url + "/metrics", headers={"Authorization": f"Bearer {t.token('carla')}"}
    ) as resp:
        text = await resp.text()
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["recap_messages_applied_total"] >= 1
    assert values["recap_conflicts_total"] == 1
    assert values["recap_sync_seconds_count"] >= 2
    assert 'recap_requests_total{route="/sync",status="200"}' in values


async def test_conflicts_watermark_advances_for_bystanders(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """A rep never party to a conflict still moves past the tenant's conflicts, so its
    conflict query does not rescan them on every sync; a rep who is party gets hers."""
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    carla = client(server, http, t.token("carla"))
    flow = new_row()
    alice.replica.edit_field("pre_order_flows", flow, "quantity", 1)
    await asyncio.sleep(0.01)  # Bob edits strictly later
    bob.replica.edit_field("pre_order_flows", flow, "quantity", 2)
    await alice.sync()
    await bob.sync()
    report = await carla.sync()
    assert report.conflicts == []
    assert carla.replica.conflicts_after >= 1
    # Bob's later edit overwrote Alice's, which he had not seen: he won, she lost.
    assert [c["yours"] for c in bob.replica.conflicts] == ["winner"]
    alice_report = await alice.sync()
    assert [(c["kind"], c["yours"]) for c in alice_report.conflicts] == [("overwrote", "loser")]


def test_adopting_a_snapshot_moves_a_slow_clock_past_what_it_saw() -> None:
    """A device two minutes behind (within the drift limit, so nothing refuses it) adopts
    rows stamped now; its next edit of such a field must still be stamped after the value it
    replaces, or it would lose silently."""
    import time

    from crdt.timestamp import Timestamp

    replica = ClientReplica()
    replica.offset_ms = -120_000
    flow = new_row()
    adopted = str(Timestamp(int(time.time() * 1000), 0, "00000000000000ee"))
    replica.adopt_snapshot_rows("pre_order_flows", ["quantity"], [[flow, 5, adopted]])
    mine = replica.edit_field("pre_order_flows", flow, "quantity", 6)
    assert mine.prev == adopted and mine.timestamp > adopted
    assert replica.rows("pre_order_flows")[flow]["quantity"] == 6


def test_a_snapshot_page_seen_twice_merges_by_timestamp() -> None:
    """A retried bootstrap adopts pages again: what is newer stays, whichever came first."""
    replica = ClientReplica()
    flow = new_row()
    old = "2026-01-01T00:00:00.000Z-0000-00000000000000ee"
    new = "2026-01-02T00:00:00.000Z-0000-00000000000000ee"
    cols = ["quantity", "weight"]
    replica.adopt_snapshot_rows("pre_order_flows", cols, [[flow, 1, old, 10, new]])
    replica.adopt_snapshot_rows("pre_order_flows", cols, [[flow, 2, new, 20, old]])
    assert replica.rows("pre_order_flows")[flow] == {"quantity": 2, "weight": 10}
    assert replica.registers[("pre_order_flows", flow)]["quantity"].timestamp == new


async def test_restamping_on_a_bootstrapped_device_keeps_the_snapshot_rows(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    writer = client(server, http, t.token("alice"))
    rows = [new_row() for _ in range(5)]
    for row in rows:
        writer.replica.edit_row("products", row, {"name": "P", "sku": "S"})
    await writer.sync()
    device = client(server, http, t.token("bob"))
    await device.bootstrap()
    assert set(device.replica.rows("products")) == set(rows)
    device.replica.offset_ms = 2 * 3600_000  # its clock jumps two hours ahead
    device.replica.edit_field("products", rows[0], "name", "Renamed")
    await device.sync()  # refused for drift, re-stamped, pushed
    assert abs(device.replica.offset_ms) < 1000
    assert set(device.replica.rows("products")) == set(rows)
    assert device.replica.rows("products")[rows[0]]["name"] == "Renamed"
    await writer.sync()
    assert writer.replica.state() == {
        k: v for k, v in device.replica.state().items() if k[0] == "products"
    }
    assert device.replica.trie.get("") == writer.replica.trie.get("")


async def test_a_node_id_belongs_to_the_first_user_who_syncs_with_it(
    server: Running,
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
) -> None:
    """Ownership is remembered in the process after the first sync; a second process, with
    nothing remembered, gets the same answer from the database."""
    t = await make_tenant()
    node = "00000000000000ab"

    async def sync_as(user: str, on: Running) -> int:
        async with http.post(
            on.url + "/sync",
            json={"node": node, "messages": []},
            headers={"Authorization": f"Bearer {t.token(user)}"},
        ) as resp:
            if resp.status == 403:
                assert (await resp.json())["code"] == "foreign_node"
            return resp.status

    other = await make_server()
    assert await sync_as("alice", server) == 200
    assert await sync_as("bob", server) == 403
    assert await sync_as("alice", server) == 200  # remembered
    assert await sync_as("bob", server) == 403  # remembered
    assert await sync_as("bob", other) == 403  # from the database
    assert await sync_as("alice", other) == 200
    rows = await db_rows(server.db_url, "SELECT user_id::text FROM nodes WHERE node = $1", node)
    assert [r["user_id"] for r in rows] == [t.user_id("alice")]
