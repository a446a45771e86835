"""Conflict notices people can act on: an offline edit of a line whose pre-order another rep
deleted is reported (nothing lost silently), and each user's say on a notice (dismissed,
resolved by re-applying) is kept on the server, comes back to every device of theirs in
/sync, and a re-apply tells the rep whose value it replaced."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from recap_client import SyncClient
from tests.conftest import MakeTenant, Running, Tenant, db_fetch, live_url
from tests.server.helpers import alice_loses_a_quantity, client, new_row


async def second_device(
    server: Running, http: aiohttp.ClientSession, t: Tenant, name: str
) -> SyncClient:
    """Another device of the same user: a session of its own."""
    rows = await db_fetch(
        server.db_url, "SELECT email FROM users WHERE id = $1::uuid", t.user_id(name)
    )
    async with http.post(
        server.url + "/auth/login", json={"email": rows[0]["email"], "password": "pw-" + name}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return client(server, http, (await resp.json())["token"])


async def set_states(
    server: Running, http: aiohttp.ClientSession, token: str, **body: list[int]
) -> tuple[int, Any]:
    async with http.post(
        server.url + "/api/v1/conflicts/states",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        return resp.status, await resp.json()


async def order_with_line(alice: SyncClient, bob: SyncClient) -> tuple[str, str]:
    order, line = new_row(), new_row()
    alice.replica.edit_row(
        "pre_orders",
        order,
        {"partner_id": new_row(), "delivery_date": "2026-12-01", "tombstone": 0},
    )
    alice.replica.edit_row(
        "pre_order_flows",
        line,
        {"pre_order_id": order, "product_id": new_row(), "quantity": 1, "tombstone": 0},
    )
    await alice.sync()
    await bob.sync()
    return order, line


async def test_an_offline_line_edit_on_an_order_deleted_meanwhile_is_reported(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    order, line = await order_with_line(alice, bob)
    # Alice deletes the order; Bob, offline, changes its line and adds another.
    alice.replica.edit_field("pre_orders", order, "tombstone", 1)
    await alice.sync()
    await asyncio.sleep(0.01)
    bob.replica.edit_row("pre_order_flows", line, {"quantity": 7, "weight": 3.5})
    added = new_row()
    bob.replica.edit_row(
        "pre_order_flows",
        added,
        {"pre_order_id": order, "product_id": new_row(), "quantity": 2, "tombstone": 0},
    )
    report = await bob.sync()
    lost = sorted((c["row"], c["column"]) for c in report.conflicts if c["kind"] == "deleted")
    assert lost == sorted(
        [(line, "quantity"), (line, "weight")]
        + [(added, c) for c in ("pre_order_id", "product_id", "quantity", "tombstone")]
    )
    for c in report.conflicts:
        assert c["yours"] == "loser" and c["dataset"] == "pre_order_flows"
        assert c["winner"]["user_name"] == "Alice" and c["winner"]["value"] == 1
    # Alice is told what her delete hid, once.
    told = (await alice.sync()).conflicts
    assert sorted((c["row"], c["column"]) for c in told) == lost
    assert {c["yours"] for c in told} == {"winner"}
    assert (await alice.sync()).conflicts == []


async def test_a_late_delete_over_newer_line_edits_is_reported(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    order, line = await order_with_line(alice, bob)
    alice.replica.edit_field("pre_orders", order, "tombstone", 1)  # offline, not sent yet
    await asyncio.sleep(0.01)
    bob.replica.edit_field("pre_order_flows", line, "quantity", 9)
    await bob.sync()
    await alice.sync()
    report = await bob.sync()
    assert [(c["kind"], c["row"], c["column"], c["yours"]) for c in report.conflicts] == [
        ("deleted", line, "quantity", "loser")
    ]


async def test_a_dismissal_reaches_every_device_of_the_user_only(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    flow = new_row()
    alice.replica.edit_field("pre_order_flows", flow, "quantity", 1)
    await alice.sync()
    await bob.sync()
    phone = await second_device(server, http, t, "alice")
    await phone.sync()
    alice.replica.edit_field("pre_order_flows", flow, "quantity", 10)
    await asyncio.sleep(0.01)
    bob.replica.edit_field("pre_order_flows", flow, "quantity", 20)
    await bob.sync()
    [conflict] = (await alice.sync()).conflicts
    assert conflict["state"] is None
    [same] = (await phone.sync()).conflicts
    assert same["id"] == conflict["id"]
    await bob.sync()

    # The phone, idle on its live socket, is told at once to sync.
    assert phone.token is not None
    async with http.ws_connect(await live_url(http, server.url, phone.token)) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        status, body = await set_states(server, http, t.token("alice"), dismissed=[conflict["id"]])
        assert (status, body) == (200, {"changed": 1})
        assert (await ws.receive_json(timeout=5))["type"] == "changed"
    [again] = (await phone.sync()).conflicts
    assert (again["id"], again["state"], again["yours"]) == (conflict["id"], "dismissed", "loser")
    assert again["seq"] > same["seq"]
    # Bob's side is his own: he gets the notice again, with no say of his recorded.
    [bobs] = (await bob.sync()).conflicts
    assert (bobs["id"], bobs["state"], bobs["yours"]) == (conflict["id"], None, "winner")
    # The same say again changes nothing and sends nothing.
    assert await set_states(server, http, t.token("alice"), dismissed=[conflict["id"]]) == (
        200,
        {"changed": 0},
    )
    assert (await phone.sync()).conflicts == []
    # Someone not party to it cannot mark it.
    assert await set_states(server, http, t.token("carla"), dismissed=[conflict["id"]]) == (
        200,
        {"changed": 0},
    )
    status, _ = await set_states(server, http, t.token("alice"), dismissed=[0])
    assert status == 422


async def test_resolving_tells_the_rep_whose_value_the_reapply_replaced(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, bob, flow, conflict = await alice_loses_a_quantity(server, http, t)
    await bob.sync()
    # Alice re-applies her value (an ordinary edit), then says so.
    reapplied = alice.replica.edit_field("pre_order_flows", flow, "quantity", 10)
    await alice.sync()
    assert await set_states(server, http, t.token("alice"), resolved=[conflict["id"]]) == (
        200,
        {"changed": 1},
    )
    told = (await bob.sync()).conflicts
    notice = next(c for c in told if c["kind"] == "reapplied")
    assert notice["yours"] == "loser" and notice["state"] is None
    assert notice["winner"]["value"] == 10 and notice["winner"]["user_name"] == "Alice"
    assert notice["winner"]["timestamp"] == reapplied.timestamp
    assert notice["loser"]["value"] == 20 and notice["loser"]["user_name"] == "Bob"
    # Alice's devices get it already settled, and her notice as resolved; a dismissal does
    # not undo a resolve.
    mine = {c["kind"]: c for c in (await alice.sync()).conflicts}
    assert mine["reapplied"]["state"] == "dismissed" and mine["reapplied"]["yours"] == "winner"
    assert mine["superseded"]["state"] == "resolved"
    assert await set_states(server, http, t.token("alice"), dismissed=[conflict["id"]]) == (
        200,
        {"changed": 0},
    )
    # The winner cannot resolve (only the loser re-applies).
    assert await set_states(server, http, t.token("bob"), resolved=[conflict["id"]]) == (
        200,
        {"changed": 0},
    )


async def test_restoring_a_deleted_order_tells_the_rep_who_deleted_it_once(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    order, line = await order_with_line(alice, bob)
    alice.replica.edit_field("pre_orders", order, "tombstone", 1)
    await alice.sync()
    await asyncio.sleep(0.01)
    bob.replica.edit_row("pre_order_flows", line, {"quantity": 7, "weight": 3.5})
    lost = (await bob.sync()).conflicts
    await alice.sync()
    bob.replica.edit_field("pre_orders", order, "tombstone", 0)  # Restore
    await bob.sync()
    status, body = await set_states(server, http, t.token("bob"), resolved=[c["id"] for c in lost])
    assert (status, body) == (200, {"changed": 2})
    told = [c for c in (await alice.sync()).conflicts if c["kind"] == "reapplied"]
    assert [(c["dataset"], c["row"], c["column"], c["yours"]) for c in told] == [
        ("pre_orders", order, "tombstone", "loser")
    ]
    assert told[0]["winner"]["value"] == 0 and told[0]["winner"]["user_name"] == "Bob"
    assert told[0]["loser"]["value"] == 1 and told[0]["loser"]["user_name"] == "Alice"


async def test_a_new_device_starts_the_conflict_feed_at_its_snapshot(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    *_, conflict = await alice_loses_a_quantity(server, http, t)
    headers = {"Authorization": f"Bearer {t.token('alice')}"}
    url = server.url + "/snapshot"
    while True:
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 200
            page = await resp.json()
        if page["done"]:
            break
        url = f"{server.url}/snapshot?cursor={page['cursor']}"
    # The feed's position when the snapshot was taken: Alice's past conflict is behind it.
    assert page["conflicts_after"] == conflict["seq"]
    rows = await db_fetch(server.db_url, "SELECT max(seq) AS seq FROM conflicts")
    assert page["conflicts_after"] == rows[0]["seq"]
    # A new device of Alice's that bootstraps from the snapshot gets none of her past notices.
    device = client(server, http, t.token("alice"))
    report = await device.bootstrap()
    assert device.replica.conflicts_after == conflict["seq"]
    assert report.conflicts == []
    assert (await device.sync()).conflicts == []
