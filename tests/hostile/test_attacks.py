"""A hostile device, signed in as a rep of the tenant, plays each class of attack that broke
convergence before (and the ones found since) against a running server. After each, the
honest replicas, and a new one, converge to the server's root, and every edit the server
acknowledged is present (`Arena.converged`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from crdt.hlc import send
from crdt.message import Message
from crdt.timestamp import Timestamp
from recap_client import ClientReplica, SyncError
from tests.conftest import MakeTenant, Running, db_fetch
from tests.hostile.arena import Arena, edit, forged, new_row

VECTORS = orjson.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "timestamps.json").read_bytes()
)
MINUTE = 60_000


@pytest.fixture
async def arena(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> AsyncIterator[Arena]:
    tenant = await make_tenant("Acme", reps=("alice", "bob", "mallory"), admins=("carla",))
    field = Arena(server.url, http, tenant, server.db_url)
    alice = field.join("alice", "alice")
    bob = field.join("bob", "bob")
    for client in (alice, bob):
        for i in range(5):
            edit(client.replica, i)
        await field.sync(client)
    yield field


def as_json(message: Message) -> dict[str, Any]:
    return message.to_json()


def stamp(millis: int, counter: int, node: str) -> str:
    return str(Timestamp(millis, counter, node))


async def server_now(field: Arena, node: str) -> int:
    status, body = await field.post("mallory", {"node": node})
    assert status == 200
    return int(body["server_time"])


# -- 1. timestamps that parse but are not canonical -------------------------------------------
async def test_every_non_canonical_timestamp_is_refused_and_nothing_is_stored(
    arena: Arena,
) -> None:
    mallory = forged()
    now = await server_now(arena, mallory.node)
    before = await arena.stored()
    refused = [c["text"] for c in VECTORS["cases"] if not c["message"]]
    assert len(refused) > 80
    for text in refused:
        message = {"dataset": "pre_order_flows", "row": new_row(), "column": "quantity"}
        status, body = await arena.push(
            "mallory", mallory.node, [{**message, "value": 1, "timestamp": text}]
        )
        assert status == 422, (text, status, body)
        assert body["code"] == "invalid" and body["index"] == 0
    # The case: second 60 of the current minute, which range reads never return.
    minute = now - now % MINUTE
    sixty = str(Timestamp(minute, 0, mallory.node)).replace(":00.000Z", ":60.000Z")
    status, body = await arena.push(
        "mallory",
        mallory.node,
        [{"dataset": "products", "row": new_row(), "column": "name", "value": "x",
          "timestamp": sixty}],
    )  # fmt: skip
    assert status == 422 and "no such date or time" in body["message"]
    assert await arena.stored() == before
    await arena.converged()


# -- 2. a clock poisoned through the counter ---------------------------------------------------
@pytest.mark.parametrize("ahead", [3 * MINUTE, 5 * MINUTE - 1_000])
async def test_a_full_counter_ahead_of_time_poisons_no_clock(arena: Arena, ahead: int) -> None:
    mallory = forged()
    now = await server_now(arena, mallory.node)
    poison = [
        {"dataset": "pre_order_flows", "row": new_row(), "column": "quantity", "value": 9,
         "timestamp": stamp(now + ahead + k, 0xFFFF, mallory.node)}
        for k in range(3)
    ]  # fmt: skip
    status, body = await arena.push("mallory", mallory.node, poison)
    assert status == 200 and body["inserted"] == 3  # valid: inside the drift allowance
    # Every honest replica receives it and keeps editing and syncing; so does a new device,
    # and the server's own writes (REST) still order after it.
    for client in arena.honest.values():
        await arena.sync(client)
        assert client.replica.clock.last.millis >= now + ahead
        edit(client.replica, 7)
        await arena.sync(client)
    headers = {"Authorization": f"Bearer {arena.tenant.token('carla')}"}
    async with arena.http.post(
        arena.url + "/api/v1/partners", json={"name": "After the poison"}, headers=headers
    ) as resp:
        assert resp.status == 201
    await arena.converged()


# -- 3. a forged node id -------------------------------------------------------------------------
async def test_another_device_s_node_id_cannot_be_written_under(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = arena.honest["alice"].replica
    instant = alice.now_ms()
    monkeypatch.setattr(alice, "now_ms", lambda: instant)  # her next edit's time, known
    # The timestamp Alice's device will use next, with other content.
    _, next_stamp = send(alice.clock, instant)
    forgery = {"dataset": "pre_order_flows", "row": new_row(), "column": "quantity",
               "value": 666, "timestamp": str(next_stamp)}  # fmt: skip
    mallory = forged()
    before = await arena.stored()
    for node in (mallory.node, alice.node):  # under her own node id, or claiming Alice's
        status, body = await arena.push("mallory", node, [forgery])
        assert status == 403 and body["code"] == "foreign_node", body
    assert await arena.stored() == before
    # Alice's real edit at that very timestamp is stored, not silently dropped.
    real = edit(alice, 5)
    assert real.timestamp == str(next_stamp)
    report = await arena.sync(arena.honest["alice"])
    assert report.pushed >= 1
    assert (await arena.stored())[real.timestamp][3] == 5
    await arena.converged()


async def test_the_server_s_and_the_bridge_s_node_ids_cannot_be_claimed(arena: Arena) -> None:
    carla = {"Authorization": f"Bearer {arena.tenant.token('carla')}"}
    async with arena.http.post(
        arena.url + "/api/v1/partners", json={"name": "Written over REST"}, headers=carla
    ) as resp:
        assert resp.status == 201
    async with arena.http.put(
        arena.url + "/api/v1/connectors/airtable",
        json={"base_id": "appX", "table": "Orders", "api_key": "key", "schedule_s": 0},
        headers=carla,
    ) as resp:
        assert resp.status == 200
    stored = await arena.stored()
    devices = {m.node for c in arena.honest.values() for m in c.replica.log.values()}
    server_nodes = {t[-16:] for t in stored} - devices
    assert len(server_nodes) == 1  # the REST write's
    rows = await db_fetch(
        arena.db_url,
        "SELECT node FROM nodes WHERE tenant_id = $1 AND kind = 'bridge'",
        arena.tenant.id,
    )
    bridge = rows[0]["node"]
    for node in (*server_nodes, bridge):
        mallory = forged(node)
        message = as_json(edit(mallory, 13))
        status, body = await arena.push("mallory", node, [message])
        assert status == 403 and body["code"] == "foreign_node", (node, body)
    assert await arena.stored() == stored
    await arena.converged()


# -- 4. a reused node id -------------------------------------------------------------------------
async def test_a_client_that_reuses_its_node_id_still_converges(arena: Arena) -> None:
    """A client written from the documents alone keeps one node id across reinstalls: a
    fresh replica under the id of a device that already pushed. The server sends it its
    own node's earlier messages like anyone's, so it converges; and a stamp it repeats
    with other content is refused (409) and re-stamped, never dropped."""
    first = arena.device("bob")
    for i in range(40):
        edit(first.replica, i)
    await arena.sync(first)
    again = arena.device("bob")
    again.replica = ClientReplica(first.replica.node)
    reused = first.replica.log[
        min(t for t, m in first.replica.log.items() if m.node == first.replica.node)
    ]
    clash = Message(reused.dataset, new_row(), reused.column, 999, reused.timestamp)
    again.replica.apply([clash])  # an edit stamped as the old one, with other content
    again.replica.outbox[clash.timestamp] = clash
    report = await arena.sync(again)
    assert report.rounds >= 1
    stored = await arena.stored()
    assert stored[reused.timestamp][1] == reused.row  # the first edit stands
    assert any(v[1] == clash.row and v[3] == 999 for v in stored.values())  # re-stamped
    assert set(first.replica.log) <= set(again.replica.log)
    arena.honest["again"] = again
    await arena.converged()


# -- 5. identity collisions are loud -------------------------------------------------------------
async def test_a_reused_timestamp_is_refused_with_its_index_and_nothing_stored(
    arena: Arena,
) -> None:
    bob = arena.honest["bob"].replica
    mine = bob.log[max(t for t, m in bob.log.items() if m.node == bob.node)]
    fresh = edit(forged(bob.node), 1)  # a new message of Bob's node, later
    clone = {**as_json(mine), "value": 12345}
    before = await arena.stored()
    status, body = await arena.push("bob", bob.node, [as_json(fresh), clone])
    assert status == 409, body
    assert body["code"] == "timestamp_reused" and body["index"] == 1
    assert body["timestamp"] == mine.timestamp
    assert await arena.stored() == before  # all or nothing: the fresh one is not kept
    # The same message again (a retry) is fine.
    status, body = await arena.push("bob", bob.node, [as_json(mine)])
    assert status == 200 and body["inserted"] == 0
    await arena.converged()


# -- 6. invalid values ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dataset", "column", "value"),
    [
        ("pre_orders", "created_at", "2026-13-45T99:99:99Z"),
        ("pre_orders", "created_at", "2026-02-30T10:00:00Z"),
        ("pre_orders", "delivery_date", "1999-12-31"),
        ("pre_orders", "delivery_date", "2026-04-31"),
        ("pre_order_flows", "quantity", 1e300),
        ("pre_order_flows", "quantity", -1),
        ("partners", "name", "😀" * 501),
        ("profiles", "email", "a\u2028b@c.example"),
    ],
)
async def test_an_invalid_value_is_refused_and_nothing_is_stored(
    arena: Arena, dataset: str, column: str, value: Any
) -> None:
    mallory = forged()
    message = mallory.edit_field("partners", new_row(), "name", "ok")  # for a timestamp
    bad = {**as_json(message), "dataset": dataset, "column": column, "value": value}
    before = await arena.stored()
    status, body = await arena.push("mallory", mallory.node, [bad])
    assert status == 422 and body["code"] == "invalid", body
    assert await arena.stored() == before
    await arena.converged()


# -- 7. found while writing these --------------------------------------------------------------
async def test_a_stamp_at_the_drift_limit_is_the_last_accepted(arena: Arena) -> None:
    mallory = forged()
    now = await server_now(arena, mallory.node)
    far = 5 * MINUTE + 30_000  # beyond the limit even after the round trip
    status, body = await arena.push(
        "mallory", mallory.node, [{**as_json(edit(forged(mallory.node), 1)),
                                   "timestamp": stamp(now + far, 0, mallory.node)}],
    )  # fmt: skip
    assert status == 422 and body["code"] == "clock_drift" and "server_time" in body
    await arena.converged()


async def test_an_old_edit_with_a_full_counter_is_fine(arena: Arena) -> None:
    """An edit made offline a year ago, with the counter at its maximum: accepted, and it
    lands in an old minute every replica reconciles."""
    mallory = forged()
    now = await server_now(arena, mallory.node)
    old = stamp(now - 365 * 24 * 60 * MINUTE, 0xFFFF, mallory.node)
    message = {**as_json(edit(forged(mallory.node), 3)), "timestamp": old}
    status, body = await arena.push("mallory", mallory.node, [message])
    assert status == 200 and body["inserted"] == 1
    await arena.converged()


async def test_a_bogus_summary_only_costs_its_sender(arena: Arena) -> None:
    mallory = forged()
    status, body = await arena.post(
        "mallory",
        {"node": mallory.node,
         "summary": {"scopes": [""], "nodes": [["0", 123, 2**53], ["1", -5, 0], ["2", 0, 7]]}},
    )  # fmt: skip
    assert status == 200 and isinstance(body["messages"], list)
    await arena.converged()


async def test_a_hostile_overwrite_is_an_edit_like_any_other(arena: Arena) -> None:
    """Nothing stops a rep from editing a row (permissions are another matter): the honest
    value is overwritten by LWW, its message stays, and its author is told."""
    alice = arena.honest["alice"]
    row = new_row()
    alice.replica.edit_field("pre_order_flows", row, "quantity", 10)
    await arena.sync(alice)
    mallory = arena.join("mallory", "mallory")
    await arena.sync(mallory)
    mallory.replica.edit_field("pre_order_flows", row, "quantity", 0)
    await arena.sync(mallory)
    report = await arena.sync(alice)
    assert alice.replica.rows("pre_order_flows")[row]["quantity"] == 0
    assert [c["kind"] for c in report.conflicts] in ([], ["overwrote"])
    await arena.converged()


async def test_a_python_client_recovers_from_a_refused_round(arena: Arena) -> None:
    """The client's side of the 409: `SyncError` carries the code a client acts on."""
    bob = arena.honest["bob"].replica
    mine = bob.log[max(t for t, m in bob.log.items() if m.node == bob.node)]
    status, body = await arena.push("bob", bob.node, [{**as_json(mine), "value": 1}])
    assert status == 409
    assert SyncError(status, body).code == "timestamp_reused"
