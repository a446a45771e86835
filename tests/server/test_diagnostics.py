"""Diagnostics (issue 21): messages in human terms (`sync_server.diagnose`), matching what a
trie holds from its hashes, and `POST /debug/merkle/compare` as the app's diagnostics page
calls it: any signed-in user, own tenant only, the server's messages in the divergent
ranges described, and which of them the replica lacks."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg

from crdt import merkle
from crdt.merkle import FlatTrie, build, timestamp_key
from crdt.message import Message
from crdt.timestamp import Timestamp, iso_millis, millis_of
from recap_client import ClientReplica, SyncClient
from sync_server import diagnose
from sync_server.models import MerkleCompareOut
from sync_server.services import diagnostics
from sync_server.storage import merkle as tries
from tests.conftest import MakeTenant, Running


def new_row() -> str:
    return str(uuid.uuid4())


@dataclass
class Order:
    partner: str
    product: str
    order: str
    flow: str
    #: the line's quantity message
    quantity: Message


def make_order(
    replica: ClientReplica,
    partner: str = "Acme Foods",
    product: str = "Tomatoes",
    date: str = "2026-12-02",
    quantity: int = 12,
) -> Order:
    """A partner, a product, an order of that partner and one line of the product, made on
    the replica (in its outbox)."""
    ids = Order(new_row(), new_row(), new_row(), new_row(), None)  # type: ignore[arg-type]
    replica.edit_row("partners", ids.partner, {"name": partner})
    replica.edit_row("products", ids.product, {"name": product})
    replica.edit_row(
        "pre_orders",
        ids.order,
        {"partner_id": ids.partner, "delivery_date": date, "status": "pending"},
    )
    line = replica.edit_row(
        "pre_order_flows",
        ids.flow,
        {"pre_order_id": ids.order, "product_id": ids.product, "quantity": quantity},
    )
    ids.quantity = line[-1]
    return ids


async def call(
    http: aiohttp.ClientSession, method: str, url: str, token: str, body: Any = None
) -> tuple[int, Any]:
    async with http.request(
        method, url, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        return resp.status, await resp.json()


def without(trie: FlatTrie, *timestamps: str) -> FlatTrie:
    """The trie with these timestamps XORed out (as if the replica never held them)."""
    out = trie.copy()
    out.remove_many(timestamps)
    return out


# -- describe: pure ------------------------------------------------------------------------------


def test_a_message_in_human_terms() -> None:
    replica = ClientReplica()
    o = make_order(replica)
    rows = diagnose.rows_from_messages(replica.log.values())
    described = diagnose.describe(o.quantity, rows, "Ana Rep")
    assert (
        described["summary"]
        == 'set quantity = 12 on "Acme Foods" 2026-12-02 order (line: Tomatoes)'
    )
    assert described["order"] == {"id": o.order, "partner": "Acme Foods", "date": "2026-12-02"}
    assert (described["product"], described["field"], described["who"]) == (
        "Tomatoes",
        "quantity",
        "Ana Rep",
    )
    assert described["when"] == iso_millis(millis_of(o.quantity.timestamp))
    when = described["when"]
    assert diagnose.line(described) == (
        f"{when[:10]} {when[11:19]}  Ana Rep  set quantity = 12 on "
        f'"Acme Foods" 2026-12-02 order (line: Tomatoes)  [{o.quantity.timestamp}]'
    )
    by_field = {(m.dataset, m.column): m for m in replica.log.values()}
    summary = {k: diagnose.describe(m, rows, None)["summary"] for k, m in by_field.items()}
    assert summary[("pre_orders", "partner_id")] == (
        'set partner = "Acme Foods" on "Acme Foods" 2026-12-02 order'
    )
    assert summary[("partners", "name")] == 'set name = "Acme Foods" on partner "Acme Foods"'
    assert diagnose.describe(by_field[("partners", "name")], rows, None)["who"] == "unknown device"
    # What the describer does not know is said plainly, with the ids' beginnings.
    alone = diagnose.describe(o.quantity, {}, None)
    assert alone["summary"] == f"set quantity = 12 on line {o.flow[:8]}"
    assert alone["order"] is None
    # Deleting, money and pictures.
    gone = Message("pre_orders", o.order, "tombstone", 1, o.quantity.timestamp)
    assert diagnose.describe(gone, rows, None)["summary"] == (
        'deleted "Acme Foods" 2026-12-02 order'
    )
    price = Message("products", o.product, "unit_price_cents", 250, o.quantity.timestamp)
    assert diagnose.describe(price, rows, None)["summary"] == (
        'set unit price = 2.50 on product "Tomatoes"'
    )
    # The rows a description needs, level by level.
    assert diagnose.wanted_rows([o.quantity], {}) == {("pre_order_flows", o.flow)}
    line_only = {("pre_order_flows", o.flow): rows[("pre_order_flows", o.flow)]}
    assert diagnose.wanted_rows([o.quantity], line_only) == {
        ("pre_orders", o.order),
        ("products", o.product),
    }


def test_what_a_trie_holds_is_matched_by_its_hashes() -> None:
    node = "0123456789abcdef"
    minute = 29_000_000 * 60_000
    stamps = [f"{iso_millis(minute + i * 1000)}-0000-{node}" for i in range(5)]
    t1, t2, t3, t4, t5 = stamps
    ranges = [(minute, minute + 60_000)]
    # A partial log: it names t1, its trie also counts t2 and t3; t4 is not held.
    trie = build([t1, t2, t3])
    held = diagnose.held_by_trie(trie, {t1}, {t2, t3, t4}, ranges)
    assert held.held == {t2, t3} and held.unresolved == []
    # A message no one names (t5) in the trie: that minute cannot be matched.
    held = diagnose.held_by_trie(build([t1, t5]), {t1}, {t2}, ranges)
    assert held.unresolved == [minute] and held.held == set()
    # A trie pruned above the minute cannot say.
    assert diagnose.minute_hash({"hash": 5}, timestamp_key(minute)) is None
    assert diagnose.minute_hash({"hash": 0}, timestamp_key(minute)) == 0
    # cover() tiles a range with whole trie nodes.
    paths = diagnose.cover(minute, minute + 3 * 60_000)
    assert sum(3 ** (16 - len(p)) for p in paths) == 3


def test_a_list_cut_at_its_limit_is_compared_up_to_where_it_stops() -> None:
    node = "0123456789abcdef"
    minute = 29_000_000 * 60_000
    stamps = [f"{iso_millis(minute + i * 60_000)}-0000-{node}" for i in range(4)]
    messages = [Message("partners", new_row(), "name", f"P{i}", ts) for i, ts in enumerate(stamps)]
    rows = diagnose.rows_from_messages(messages)
    described = {m.timestamp: diagnose.describe(m, rows, None) for m in messages}
    ranges = [(minute, minute + 4 * 60_000)]
    # The server lists its first two (its limit) and holds a third; the device holds all 4.
    server = diagnose.Side(
        "a",
        "server",
        "s",
        build(stamps[:3]),
        0,
        named={ts: described[ts] for ts in stamps[:2]},
        truncated=True,
    )
    device = diagnose.Side("b", "device", "d", build(stamps), 0, named=described)
    result = diagnose.compare(server, device, ranges)
    assert result["compared_until"] == iso_millis(minute + 60_000)
    assert result["only_a"] == [] and result["only_b"] == [] and result["unresolved"] == []
    # Complete, the list shows what the server lacks: the fourth message.
    server.named = {ts: described[ts] for ts in stamps[:3]}
    server.truncated = False
    result = diagnose.compare(server, device, ranges)
    assert [d["timestamp"] for d in result["only_b"]] == [stamps[3]]
    assert result["compared_until"] is None


# -- the endpoint ---------------------------------------------------------------------------------


async def test_compare_names_what_a_reps_device_lacks(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant(reps=("alice", "bob"), admins=("carla",))
    alice = SyncClient(server.url, ClientReplica(), http, t.token("alice"))
    o = make_order(alice.replica)
    await alice.sync()
    bob = SyncClient(server.url, ClientReplica(), http, t.token("bob"))
    await bob.sync()
    url = server.url + "/debug/merkle/compare"
    status, view = await call(http, "GET", server.url + "/debug/merkle", t.token("bob"))
    assert status == 200

    # In sync: says so, with the server's root and count.
    status, same = await call(
        http, "POST", url, t.token("bob"), {"trie": bob.replica.trie.to_json()}
    )
    assert status == 200
    assert same["in_sync"] is True and same["ranges"] == [] and same["replica_lacks"] == []
    assert (same["root_hash"], same["count"]) == (view["root_hash"], view["count"]) != (0, 0)

    # Bob's device without Alice's quantity message, and with an edit not pushed yet.
    missing = o.quantity.timestamp
    pending = bob.replica.edit_field("pre_order_flows", o.flow, "quantity", 15)
    trie = without(bob.replica.trie, missing)
    status, body = await call(
        http,
        "POST",
        url,
        t.token("bob"),
        {"trie": trie.to_json(), "messages": [pending.to_json()], "nodes": [alice.replica.node]},
    )
    assert status == 200, body
    MerkleCompareOut.model_validate(body)
    assert body["in_sync"] is False and body["truncated"] is False
    assert body["replica_lacks"] == [missing]
    assert body["server_lacks"] == [pending.timestamp]
    assert len(body["server_described"]) == len(body["server_messages"])
    described = next(d for d in body["server_described"] if d["timestamp"] == missing)
    assert described["who"] == "Alice"
    assert described["order"] == {"id": o.order, "partner": "Acme Foods", "date": "2026-12-02"}
    assert described["summary"] == (
        'set quantity = 12 on "Acme Foods" 2026-12-02 order (line: Tomatoes)'
    )
    [mine] = body["described"]
    assert mine["summary"] == 'set quantity = 15 on "Acme Foods" 2026-12-02 order (line: Tomatoes)'
    assert mine["who"] == "Bob"  # the server knows Bob's device by its node
    assert body["node_names"] == {alice.replica.node: "Alice", bob.replica.node: "Bob"}
    minute = millis_of(missing) // 60_000 * 60_000
    assert any(r["start"] <= minute < r["end"] for r in body["ranges"])
    assert body["unresolved"] == []


async def test_compare_sees_only_the_callers_tenant_and_refuses_bad_bodies(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    a = await make_tenant("A", reps=("alice",), admins=("carla",))
    b = await make_tenant("B", reps=("zoe",), admins=())
    alice = SyncClient(server.url, ClientReplica(), http, a.token("alice"))
    o = make_order(alice.replica)
    await alice.sync()
    url = server.url + "/debug/merkle/compare"
    # B's rep, sending A's trie, A's messages and A's node: sees none of A's names or rows.
    status, body = await call(
        http,
        "POST",
        url,
        b.token("zoe"),
        {
            "trie": alice.replica.trie.to_json(),
            "messages": [o.quantity.to_json()],
            "nodes": [alice.replica.node],
        },
    )
    assert status == 200
    assert (body["root_hash"], body["count"]) == (0, 0)
    assert body["server_messages"] == [] and body["server_described"] == []
    assert body["node_names"] == {}
    [described] = body["described"]
    assert described["order"] is None and described["product"] is None
    assert described["who"] == "unknown device"
    assert described["summary"] == f"set quantity = 12 on line {o.flow[:8]}"
    # Bad bodies: 422 with {code, message}.
    for bad in (
        {"trie": {"hash": "x"}},
        {"trie": {"hash": 0, "7": {}}},
        {"trie": {"hash": 0}, "messages": [{"dataset": "x"}]},
        {"trie": {"hash": 0}, "messages": "no"},
        {"trie": {"hash": 0}, "nodes": ["NOT-A-NODE"]},
        ["trie"],
    ):
        status, err = await call(http, "POST", url, a.token("alice"), bad)
        assert status == 422, (bad, err)
        assert err["code"] == "invalid" and err["message"], err


async def test_compare_and_views_read_only_what_they_need(db_url: str) -> None:
    """`/debug/merkle/compare` walks the server's trie a level at a time against the sent
    one, and a view cut at a depth reads only down to it: on random tries (whole, with
    messages missing or extra on either side, with matching subtrees cut down to their
    hash as the app sends them) the ranges and views are exactly those of the whole trie."""
    rng = random.Random(21)
    tenant = str(uuid.uuid4())
    start = 1_760_000_000_000
    stamps = [
        str(Timestamp(start + rng.randrange(0, 90 * 86_400_000), rng.randrange(4), "a" * 16))
        for _ in range(3000)
    ]
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    try:
        server = FlatTrie()
        server.insert_many(stamps)
        async with pool.acquire() as conn:
            await tries.add(conn, tenant, server)
        whole = server.to_json()
        for _ in range(25):
            replica = FlatTrie()
            kept = [s for s in stamps if rng.random() > 0.002]
            extra = [
                str(Timestamp(start + rng.randrange(0, 90 * 86_400_000), 9, "b" * 16))
                for _ in range(rng.randrange(3))
            ]
            replica.insert_many(kept + extra)
            sent = replica.to_json()
            if rng.random() < 0.5:  # matching subtrees cut to their hash, as the app sends
                sent = trimmed(sent, whole)
            async with pool.acquire() as conn:
                partial = await diagnostics.server_nodes_against(conn, tenant, sent)
            assert merkle.diff_ranges(partial.to_json(), sent) == merkle.diff_ranges(whole, sent)
            assert len(partial.nodes) < len(server.nodes) / 4
        for path, depth in [("", 0), ("", 3), ("1", 2), ("12", 4), ("0", 1)]:
            view = await diagnostics.trie_view(pool, tenant, path, depth, None)
            expected = diagnostics.cut(merkle.subtree(whole, path) or merkle.empty(), depth)
            assert view["trie"] == expected
            assert (view["count"], view["root_hash"]) == (server.count(path), server.hash(""))
    finally:
        await pool.close()


def trimmed(node: merkle.Trie, other: merkle.Trie | None) -> merkle.Trie:
    """`node` with every child whose hash equals `other`'s cut down to its hash."""
    out: merkle.Trie = {"hash": node.get("hash", 0)}
    for key in merkle.children(node):
        theirs = (other or {}).get(key)
        if theirs is not None and theirs.get("hash") == node[key].get("hash"):
            out[key] = {"hash": node[key]["hash"]}
        else:
            out[key] = trimmed(node[key], theirs)
    return out
