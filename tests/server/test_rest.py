"""The integration REST API under /api/v1 against the real server and PostgreSQL: idempotent
create, If-Match, tombstones, flows, keyset pages, the transactional outbox and its relay,
the events feed, live notices, tenant isolation and the cached summary."""

from __future__ import annotations

import asyncio
import datetime
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from recap_client import ClientReplica, SyncClient
from sync_server.database import _init_connection
from sync_server.keys import HUB, RELAY, SUMMARY_CACHE
from sync_server.operations import OPERATIONS
from sync_server.services import records as records_service
from sync_server.storage import records as queries
from sync_server.storage.apply import apply_messages
from tests.conftest import MakeServer, MakeTenant, Running, Tenant, db_fetch, live_url

API = "/api/v1"
DAY = datetime.timedelta(days=1)


# -- helpers -------------------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]

    @property
    def etag(self) -> str:
        return self.headers["ETag"]


class Api:
    """One caller of the REST API (a bearer token) on one server."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http = http
        self.base = base
        self.token = token

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        data = None if body is None else json.dumps(body)
        if data is not None:
            sent["Content-Type"] = "application/json"
        async with self.http.request(method, self.base + path, data=data, headers=sent) as resp:
            raw = await resp.read()
            parsed = json.loads(raw) if raw else None
            return Reply(resp.status, parsed, resp.headers)

    async def get(self, path: str, **headers: str) -> Reply:
        return await self.call("GET", path, headers=headers)

    async def create_partner(self, name: str) -> str:
        reply = await self.call("POST", f"{API}/partners", {"name": name})
        assert reply.status == 201, reply.body
        return str(reply.body["id"])

    async def create_product(self, name: str, sku: str) -> str:
        reply = await self.call("POST", f"{API}/products", {"name": name, "sku": sku})
        assert reply.status == 201, reply.body
        return str(reply.body["id"])

    async def create_order(
        self, partner: str, day: str = "2026-11-24", key: str | None = None, **extra: Any
    ) -> Reply:
        body = {"partner_id": partner, "delivery_date": day, **extra}
        return await self.call(
            "POST", f"{API}/preorders", body, {"Idempotency-Key": key or str(uuid.uuid4())}
        )

    async def new_order(self, partner: str, day: str = "2026-11-24", **extra: Any) -> Any:
        reply = await self.create_order(partner, day, **extra)
        assert reply.status == 201, reply.body
        return reply.body

    async def patch(self, path: str, body: Any, etag: str | None) -> Reply:
        headers = {"If-Match": etag} if etag is not None else {}
        return await self.call("PATCH", path, body, headers)

    async def pages(self, query: str, limit: int) -> list[Any]:
        """Every item of a keyset listing, page by page."""
        items: list[Any] = []
        cursor: str | None = None
        while True:
            url = f"{API}/preorders?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
            reply = await self.get(url)
            assert reply.status == 200, reply.body
            items += reply.body["items"]
            cursor = reply.body["next_cursor"]
            if cursor is None:
                return items


def api(server: Running, http: aiohttp.ClientSession, tenant: Tenant, who: str = "carla") -> Api:
    return Api(http, server.url, tenant.token(who))


def rep(server: Running, http: aiohttp.ClientSession, tenant: Tenant, who: str) -> SyncClient:
    return SyncClient(server.url, ClientReplica(), http, tenant.token(who))


@pytest.fixture
async def pg(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_url)
    await _init_connection(conn)
    yield conn
    await conn.close()


async def count(conn: asyncpg.Connection, table: str, tenant: str) -> int:
    value = await conn.fetchval(
        f"SELECT count(*) FROM {table} WHERE tenant_id = $1",  # noqa: S608
        tenant,
    )
    return int(value)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def outbox_drained(conn: asyncpg.Connection, server: Running) -> None:
    """Wait until the relay has published every event (each publication NOTIFYs, which
    also invalidates the summary cache) and the notices have stopped arriving."""
    hub = server.app[HUB]

    async def drained() -> bool:
        left = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return bool(left == 0)

    async def quiet() -> bool:
        before = hub.notices
        await asyncio.sleep(0.2)
        return hub.notices == before

    await eventually(drained, timeout=60)
    await eventually(quiet, timeout=10)


async def catalog(who: Api) -> tuple[list[str], list[str]]:
    partners = [await who.create_partner(f"Partner {i}") for i in range(3)]
    products = [await who.create_product(f"Product {i}", f"SKU-{i}") for i in range(3)]
    return partners, products


# -- idempotent create ---------------------------------------------------------------------
async def test_replay_with_the_same_key_returns_the_original(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    (partner, *_), (product, *_) = await catalog(carla)
    body = {
        "partner_id": partner,
        "delivery_date": "2026-11-24",
        "flows": [{"product_id": product, "quantity": 5, "weight": 2.5}],
    }
    headers = {"Idempotency-Key": "order-42"}
    first = await carla.call("POST", f"{API}/preorders", body, headers)
    assert first.status == 201, first.body
    assert "Idempotent-Replayed" not in first.headers
    orders, messages = await count(pg, "pre_orders", t.id), await count(pg, "messages", t.id)

    again = await carla.call("POST", f"{API}/preorders", body, headers)
    assert again.status == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.body == first.body and again.etag == first.etag
    assert await count(pg, "pre_orders", t.id) == orders == 1
    assert await count(pg, "messages", t.id) == messages
    assert await count(pg, "pre_order_flows", t.id) == 1

    # The same key with another body is refused and changes nothing.
    other = {**body, "delivery_date": "2026-11-25"}
    conflict = await carla.call("POST", f"{API}/preorders", other, headers)
    assert conflict.status == 409
    assert conflict.body["code"] == "conflict"
    assert await count(pg, "pre_orders", t.id) == 1
    assert await count(pg, "messages", t.id) == messages

    # A key is per tenant... and another key is another order.
    fresh = await carla.call("POST", f"{API}/preorders", body, {"Idempotency-Key": "order-43"})
    assert fresh.status == 201 and fresh.body["id"] != first.body["id"]


async def test_create_without_an_idempotency_key_is_refused(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    body = {"partner_id": partner, "delivery_date": "2026-11-24"}
    for headers in ({}, {"Idempotency-Key": "   "}):
        reply = await carla.call("POST", f"{API}/preorders", body, headers)
        assert reply.status == 428
        assert reply.body["code"] == "precondition_required"
    assert await count(pg, "pre_orders", t.id) == 0


async def test_concurrent_requests_with_one_key_create_one_order(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    replies = await asyncio.gather(
        *(carla.create_order(partner, key="same-key") for _ in range(12))
    )
    assert sorted(r.status for r in replies) == [200] * 11 + [201]
    assert len({r.body["id"] for r in replies}) == 1
    assert all(r.headers.get("Idempotent-Replayed") == "true" for r in replies if r.status == 200)
    assert await count(pg, "pre_orders", t.id) == 1
    assert await count(pg, "idempotency_keys", t.id) == 1


async def test_idempotency_keys_survive_a_restart(
    server: Running,
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    first = await carla.create_order(partner, key="restart-key")
    assert first.status == 201
    await server.server.close()

    restarted = await make_server()
    carla = api(restarted, http, t)
    again = await carla.create_order(partner, key="restart-key")
    assert again.status == 200 and again.body["id"] == first.body["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    conflict = await carla.create_order(partner, "2027-01-01", key="restart-key")
    assert conflict.status == 409
    assert await count(pg, "pre_orders", t.id) == 1


# -- If-Match ------------------------------------------------------------------------------
async def test_if_match_stale_fresh_and_missing(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    order = await carla.new_order(partner)
    path = f"{API}/preorders/{order['id']}"
    read = await carla.get(path)
    assert read.status == 200 and read.etag == order["etag"]

    missing = await carla.patch(path, {"status": "confirmed"}, None)
    assert missing.status == 428 and missing.body["code"] == "precondition_required"

    fresh = await carla.patch(path, {"status": "confirmed"}, read.etag)
    assert fresh.status == 200, fresh.body
    assert fresh.body["status"] == "confirmed"
    assert fresh.etag != read.etag and fresh.etag == fresh.body["etag"]
    # The version is an integer, one more with every change; the ETag is it, quoted.
    assert (order["version"], fresh.body["version"]) == (1, 2)
    assert fresh.etag == '"2"'

    stale = await carla.patch(path, {"status": "pending"}, read.etag)
    assert stale.status == 409
    assert (stale.body["code"], stale.body["message"]) == ("conflict", "stale version")
    assert stale.body["current_version"] == 2 and stale.body["current_etag"] == fresh.etag
    assert (await carla.get(path)).body["status"] == "confirmed"
    for unreadable in ("", "W/", '"x"', "-1", "1.0"):
        assert (await carla.patch(path, {"status": "pending"}, unreadable)).status == 409

    # The current version from the 409 is enough to retry, bare or weak.
    retried = await carla.patch(path, {"status": "pending"}, str(stale.body["current_version"]))
    assert retried.status == 200 and retried.body["status"] == "pending"
    assert (await carla.get(path)).etag == retried.etag == '"3"'
    weak = await carla.patch(path, {"priority": "high"}, 'W/"3"')
    assert weak.status == 200 and weak.body["version"] == 4


async def test_patch_round_trips_and_replicates_to_reps(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    first, second, _ = (await catalog(carla))[0]
    order = await carla.new_order(first, "2026-11-24")
    alice = rep(server, http, t, "alice")
    await alice.sync()
    assert alice.replica.rows("pre_orders")[order["id"]]["status"] == "pending"

    change = {"status": "confirmed", "partner_id": second, "delivery_date": "2026-12-01"}
    patched = await carla.patch(f"{API}/preorders/{order['id']}", change, order["etag"])
    assert patched.status == 200, patched.body
    assert {k: patched.body[k] for k in change} == change
    assert patched.body["partner_name"] == "Partner 1"
    got = await carla.get(f"{API}/preorders/{order['id']}")
    assert {k: got.body[k] for k in change} == change

    await alice.sync()
    row = alice.replica.rows("pre_orders")[order["id"]]
    assert {k: row[k] for k in change} == change


async def test_a_concurrent_offline_edit_loses_and_is_told(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    order = await carla.new_order(partner, "2026-11-24")
    alice = rep(server, http, t, "alice")
    await alice.sync()

    # Alice changes the date offline; meanwhile the ERP changes it over REST, later.
    alice.replica.edit_field("pre_orders", order["id"], "delivery_date", "2026-11-30")
    await asyncio.sleep(0.01)
    patched = await carla.patch(
        f"{API}/preorders/{order['id']}", {"delivery_date": "2026-12-05"}, order["etag"]
    )
    assert patched.status == 200
    report = await alice.sync()
    assert [(c["kind"], c["yours"]) for c in report.conflicts] == [("superseded", "loser")]
    conflict = report.conflicts[0]
    assert conflict["column"] == "delivery_date"
    assert conflict["loser"]["value"] == "2026-11-30"
    assert conflict["winner"]["value"] == "2026-12-05"
    assert conflict["winner"]["user_name"] == "Carla"
    assert alice.replica.rows("pre_orders")[order["id"]]["delivery_date"] == "2026-12-05"
    assert (await carla.get(f"{API}/preorders/{order['id']}")).body["delivery_date"] == (
        "2026-12-05"
    )

    # The other way round: a rep's later offline edit overwrites a REST write she never saw;
    # the REST caller's lost write is recorded against the REST user.
    bob = rep(server, http, t, "bob")
    await bob.sync()
    current = await carla.get(f"{API}/preorders/{order['id']}")
    lost = await carla.patch(
        f"{API}/preorders/{order['id']}", {"status": "confirmed"}, current.etag
    )
    assert lost.status == 200
    await asyncio.sleep(0.01)
    bob.replica.edit_field("pre_orders", order["id"], "status", "pending")
    report = await bob.sync()
    assert [(c["kind"], c["yours"]) for c in report.conflicts] == [("overwrote", "winner")]
    stored = await pg.fetchrow(
        "SELECT loser_user::text, winner_user::text FROM conflicts "
        "WHERE tenant_id = $1 AND kind = 'overwrote'",
        t.id,
    )
    assert stored is not None
    assert (stored["loser_user"], stored["winner_user"]) == (t.user_id("carla"), t.user_id("bob"))
    assert (await carla.get(f"{API}/preorders/{order['id']}")).body["status"] == "pending"


# -- delete and flows ----------------------------------------------------------------------
async def test_delete_is_a_tombstone_that_replicates(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    order = await carla.new_order(partner)
    path = f"{API}/preorders/{order['id']}"
    alice = rep(server, http, t, "alice")
    await alice.sync()
    assert order["id"] in alice.replica.rows("pre_orders")

    stale = await carla.call("DELETE", path, headers={"If-Match": '"stale"'})
    assert stale.status == 409 and stale.body["current_etag"] == order["etag"]
    deleted = await carla.call("DELETE", path)
    assert deleted.status == 204 and deleted.body is None

    row = await pg.fetchrow(
        "SELECT tombstone, status FROM pre_orders WHERE tenant_id = $1 AND id = $2",
        t.id,
        order["id"],
    )
    assert row is not None and (row["tombstone"], row["status"]) == (1, "pending")
    assert (await carla.get(path)).status == 404
    assert (await carla.patch(path, {"status": "confirmed"}, "*")).status == 404
    assert (await carla.call("DELETE", path)).status == 404
    listed = await carla.get(f"{API}/preorders")
    assert order["id"] not in [o["id"] for o in listed.body["items"]]

    await alice.sync()
    assert order["id"] not in alice.replica.rows("pre_orders")


async def test_flows_sub_resource(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    (partner, *_), (apples, pears, _) = await catalog(carla)
    order = await carla.new_order(
        partner, flows=[{"product_id": apples, "quantity": 3, "weight": 1.5}]
    )
    [first] = order["flows"]
    assert (first["product_id"], first["sku"], first["quantity"]) == (apples, "SKU-0", 3)
    flows = f"{API}/preorders/{order['id']}/flows"

    added = await carla.call("POST", flows, {"product_id": pears, "quantity": 7})
    assert added.status == 201, added.body
    assert len(added.body["flows"]) == 2
    [second] = [f for f in added.body["flows"] if f["id"] != first["id"]]
    assert (second["product_id"], second["quantity"], second["weight"]) == (pears, 7, None)
    unknown = await carla.call("POST", flows, {"product_id": str(uuid.uuid4()), "quantity": 1})
    assert unknown.status == 422

    flow_path = f"{flows}/{second['id']}"
    missing = await carla.patch(flow_path, {"quantity": 8}, None)
    assert missing.status == 428
    changed = await carla.patch(flow_path, {"quantity": 8, "weight": 4.0}, second["etag"])
    assert changed.status == 200, changed.body
    [now] = [f for f in changed.body["flows"] if f["id"] == second["id"]]
    assert (now["quantity"], now["weight"]) == (8, 4.0)
    assert now["etag"] != second["etag"]
    stale = await carla.patch(flow_path, {"quantity": 9}, second["etag"])
    assert stale.status == 409 and stale.body["current_etag"] == now["etag"]

    # A flow is only reachable through its own pre-order.
    other = await carla.new_order(partner)
    wrong = f"{API}/preorders/{other['id']}/flows/{second['id']}"
    assert (await carla.patch(wrong, {"quantity": 1}, "*")).status == 404
    assert (await carla.call("DELETE", wrong)).status == 404

    assert (await carla.call("DELETE", flow_path)).status == 204
    assert (await carla.call("DELETE", flow_path)).status == 404
    got = await carla.get(f"{API}/preorders/{order['id']}")
    assert [f["id"] for f in got.body["flows"]] == [first["id"]]
    tomb = await pg.fetchval(
        "SELECT tombstone FROM pre_order_flows WHERE tenant_id = $1 AND id = $2",
        t.id,
        second["id"],
    )
    assert tomb == 1


# -- keyset pages and filters --------------------------------------------------------------
async def seed_orders(
    alice: SyncClient, partners: list[str], n: int, stamp: Callable[[int], str]
) -> list[str]:
    """n pre-orders from a rep, with varied dates, statuses and partners."""
    ids = []
    for i in range(n):
        order = str(uuid.uuid4())
        alice.replica.edit_row(
            "pre_orders",
            order,
            {
                "partner_id": partners[i % len(partners)],
                "delivery_date": f"2026-11-{20 + i % 3}",
                "status": ("pending", "confirmed")[i % 2],
                "created_at": stamp(i),
                "tombstone": 0,
            },
        )
        ids.append(order)
    await alice.sync()
    return ids


def keyset(item: Any) -> tuple[str, str]:
    return (item["created_at"] or "", item["id"])


async def test_keyset_pages_are_stable_under_concurrent_inserts(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partners = (await catalog(carla))[0]
    alice = rep(server, http, t, "alice")
    # 30 orders, three per created_at second: ties are broken by id.
    existing = set(
        await seed_orders(alice, partners, 30, lambda i: f"2026-01-01T00:00:{i // 3:02d}Z")
    )
    seen: list[Any] = []
    cursor: str | None = None
    inserted = 0
    while True:
        url = f"{API}/preorders?limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = await carla.get(url)
        assert page.status == 200, page.body
        assert len(page.body["items"]) <= 7
        seen += page.body["items"]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
        # Between pages: newer orders (before the cursor), older ones (after it) and ones
        # with the cursor's very created_at.
        await carla.new_order(partners[0])
        last: str = seen[-1]["created_at"]
        await seed_orders(alice, partners, 1, lambda _i: "2025-06-01T00:00:00Z")
        await seed_orders(alice, partners, 1, lambda _i: last)  # noqa: B023  (called here)
        inserted += 3
    ids = [o["id"] for o in seen]
    assert len(ids) == len(set(ids)), "a record was listed twice"
    assert existing <= set(ids), "a record that existed at the start was skipped"
    keys = [keyset(o) for o in seen]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    assert inserted >= 12
    # Every page is an exact slice of the full ordering at the end.
    everything = await carla.pages("", 200)
    order = [o["id"] for o in everything]
    assert [i for i in order if i in set(ids)] == ids


async def test_list_filters(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partners = (await catalog(carla))[0]
    alice = rep(server, http, t, "alice")
    await seed_orders(alice, partners, 27, lambda i: f"2026-02-01T00:{i:02d}:00Z")
    gone = (await carla.pages("", 50))[0]
    assert (await carla.call("DELETE", f"{API}/preorders/{gone['id']}")).status == 204
    everything = await carla.pages("", 50)
    assert len(everything) == 26
    cases: list[dict[str, str]] = [
        {"delivery_date": "2026-11-21"},
        {"status": "confirmed"},
        {"partner_id": partners[2]},
        {"delivery_date": "2026-11-20", "status": "pending"},
        {"delivery_date": "2026-11-22", "status": "confirmed", "partner_id": partners[1]},
        {"delivery_date": "2030-01-01"},
    ]
    for filters in cases:
        query = "".join(f"&{k}={v}" for k, v in filters.items())
        got = await carla.pages(query, 4)
        expected = [o for o in everything if all(o[k] == v for k, v in filters.items())]
        assert [o["id"] for o in got] == [o["id"] for o in expected], filters
    bad = await carla.get(f"{API}/preorders?status=draft")
    assert bad.status == 422 and bad.body["code"] == "invalid"
    assert (await carla.get(f"{API}/preorders?cursor=not-a-cursor")).status == 400


class ExplainingConnection:
    """Stands in for a connection: EXPLAINs the statement it is given, with its arguments."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.plans: list[Any] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        plan = await self.conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
        self.plans.append(plan if not isinstance(plan, str) else json.loads(plan))
        return []


def plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = [node]
    for child in node.get("Plans", []):
        out += plan_nodes(child)
    return out


async def test_the_list_query_is_an_index_scan(
    server: Running,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    """Enough rows (20,000 over 10 tenants) that the planner picks the keyset index on its
    own: no enable_seqscan tricks."""
    t = await make_tenant()
    others = [str(uuid.uuid4()) for _ in range(9)]
    for tenant in [t.id, *others]:
        await pg.execute(
            """INSERT INTO pre_orders (tenant_id, id, partner_id, delivery_date, status,
                   created_at, tombstone)
               SELECT $1, gen_random_uuid(), gen_random_uuid(), date '2026-11-01' + (g % 30),
                   CASE WHEN g % 3 = 0 THEN 'confirmed' ELSE 'pending' END,
                   to_char(timestamp '2026-01-01' + g * interval '1 minute',
                           'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   CASE WHEN g % 50 = 0 THEN 1 ELSE 0 END
               FROM generate_series(1, 2000) AS g""",
            tenant,
        )
    await pg.execute("ANALYZE pre_orders")
    probe = ExplainingConnection(pg)
    fake = cast(Any, probe)
    everything = queries.PageFilter()
    await queries.preorder_page(fake, t.id, everything, None, 21)
    after = ("2026-01-01T12:00:00Z", str(uuid.uuid4()))
    await queries.preorder_page(fake, t.id, everything, after, 21)
    await queries.preorder_page(fake, t.id, queries.PageFilter(status="confirmed"), None, 21)
    for plan in probe.plans:
        nodes = plan_nodes(plan[0]["Plan"])
        assert not any(
            n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "pre_orders" for n in nodes
        ), plan
        # The index yields the keyset order: nothing sorts by created_at (a Sort of the
        # page's rows by their place and flow id is the page's, not the table's).
        assert not any(
            "Sort" in n["Node Type"] and any("created_at" in k for k in n.get("Sort Key", []))
            for n in nodes
        ), plan
        assert any(n.get("Index Name") == "pre_orders_keyset" for n in nodes), plan


# -- transactional outbox ------------------------------------------------------------------
def order_messages(replica: ClientReplica, product: str) -> tuple[str, list[Any]]:
    order, flow = str(uuid.uuid4()), str(uuid.uuid4())
    messages = replica.edit_row(
        "pre_orders",
        order,
        {
            "partner_id": str(uuid.uuid4()),
            "delivery_date": "2026-11-24",
            "status": "pending",
            "created_at": "2026-11-01T08:00:00Z",
            "tombstone": 0,
        },
    )
    messages += replica.edit_row(
        "pre_order_flows",
        flow,
        {
            "pre_order_id": order,
            "product_id": product,
            "quantity": 4,
            "tombstone": 0,
        },
    )
    return order, messages


async def test_outbox_rows_are_written_iff_the_change_commits(
    server: Running,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    replica = ClientReplica()
    _, doomed = order_messages(replica, str(uuid.uuid4()))
    with pytest.raises(RuntimeError, match="injected"):
        async with pg.transaction():
            outcome = await apply_messages(pg, t.id, t.user_id("alice"), doomed)
            assert outcome.events == 2
            assert await count(pg, "outbox", t.id) == 2  # visible inside the transaction
            raise RuntimeError("injected after the change")
    for table in ("outbox", "messages", "pre_orders", "pre_order_flows", "merkle_nodes"):
        assert await count(pg, table, t.id) == 0, table

    order, kept = order_messages(replica, str(uuid.uuid4()))
    async with pg.transaction():
        await apply_messages(pg, t.id, t.user_id("alice"), kept)
    rows = await pg.fetch(
        "SELECT event_type, aggregate_id::text AS aggregate, payload FROM outbox "
        "WHERE tenant_id = $1 ORDER BY id",
        t.id,
    )
    assert sorted(r["event_type"] for r in rows) == ["flow.added", "preorder.created"]
    created = next(r for r in rows if r["event_type"] == "preorder.created")
    assert created["aggregate"] == order
    assert created["payload"]["changes"]["status"] == "pending"
    flow = next(r for r in rows if r["event_type"] == "flow.added")
    assert flow["payload"]["pre_order_id"] == order
    # Applying the same messages again is a no-op: no new event.
    await apply_messages(pg, t.id, t.user_id("alice"), kept)
    assert await count(pg, "outbox", t.id) == 2


async def test_a_rest_write_that_fails_after_the_change_leaves_nothing(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    before = {table: await count(pg, table, t.id) for table in ("outbox", "messages")}

    async def broken(*_args: object) -> dict[str, Any]:
        raise RuntimeError("injected: the read after the write fails")

    monkeypatch.setattr(records_service, "read", broken)
    failed = await carla.create_order(partner, key="k-1")
    assert failed.status == 500 and failed.body["code"] == "internal"
    assert {table: await count(pg, table, t.id) for table in before} == before
    assert await count(pg, "pre_orders", t.id) == 0
    assert await count(pg, "idempotency_keys", t.id) == 0

    monkeypatch.undo()
    retried = await carla.create_order(partner, key="k-1")
    assert retried.status == 201  # the key was not kept either: a clean retry
    assert await count(pg, "outbox", t.id) == before["outbox"] + 1


# -- relay ---------------------------------------------------------------------------------
@dataclass
class Webhook:
    url: str
    received: list[dict[str, Any]]


@pytest.fixture
async def flaky_webhook() -> AsyncIterator[Callable[[int], Awaitable[Webhook]]]:
    """A real HTTP endpoint on 127.0.0.1 that answers 503 to its first `failures` requests."""
    from aiohttp.test_utils import TestServer

    servers: list[TestServer] = []

    async def start(failures: int) -> Webhook:
        received: list[dict[str, Any]] = []

        async def handle(request: web.Request) -> web.Response:
            received.append(await request.json())
            return web.Response(status=503 if len(received) <= failures else 204)

        app = web.Application()
        app.router.add_post("/hook", handle)
        hook_server = TestServer(app, host="127.0.0.1")
        await hook_server.start_server()
        servers.append(hook_server)
        return Webhook(str(hook_server.make_url("/hook")), received)

    yield start
    for s in servers:
        await s.close()


async def outbox_row(conn: asyncpg.Connection, tenant: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        """SELECT id, attempts, last_error, published_at, next_attempt_at > now() AS waiting
           FROM outbox WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1""",
        tenant,
    )
    assert row is not None
    return row


async def test_relay_retries_a_failing_webhook_until_it_is_published(
    server: Running,
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
    flaky_webhook: Callable[[int], Awaitable[Webhook]],
) -> None:
    t = await make_tenant()
    await server.server.close()  # one relay only: the fast one
    fast = await make_server(relay_interval_s=0.05)
    hook = await flaky_webhook(2)
    carla = api(fast, http, t)
    assert (await carla.call("PUT", f"{API}/settings/webhook", {"url": hook.url})).status == 200
    assert (await carla.get(f"{API}/settings/webhook")).body == {"url": hook.url}
    partner = await carla.create_partner("Nordic")
    order = await carla.new_order(partner)

    for attempt in (1, 2):

        async def failed(attempt: int = attempt) -> bool:
            return bool((await outbox_row(pg, t.id))["attempts"] == attempt)

        await eventually(failed)
        row = await outbox_row(pg, t.id)
        assert row["published_at"] is None
        assert row["last_error"] == "webhook answered 503"
        assert row["waiting"]  # backed off
        # Skip the backoff (1 s, then 2 s) instead of sleeping through it.
        await pg.execute("UPDATE outbox SET next_attempt_at = now() WHERE id = $1", row["id"])

    async def published() -> bool:
        return (await outbox_row(pg, t.id))["published_at"] is not None

    await eventually(published)
    row = await outbox_row(pg, t.id)
    assert (row["attempts"], row["last_error"]) == (3, None)
    assert len(hook.received) == 3
    assert {d["id"] for d in hook.received} == {row["id"]}
    delivery = hook.received[-1]
    assert (delivery["event_type"], delivery["aggregate_id"]) == ("preorder.created", order["id"])
    assert delivery["payload"]["changes"]["partner_id"] == partner
    relay = fast.app[RELAY]
    assert relay.failures == 2 and relay.published >= 1


async def test_relay_run_once_honours_the_backoff(
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
    flaky_webhook: Callable[[int], Awaitable[Webhook]],
) -> None:
    quiet = await make_server(relay_enabled=False)
    t = await make_tenant()
    hook = await flaky_webhook(1)
    carla = api(quiet, http, t)
    await carla.call("PUT", f"{API}/settings/webhook", {"url": hook.url})
    partner = await carla.create_partner("Nordic")
    await carla.new_order(partner)
    relay = quiet.app[RELAY]

    # The default server's relay runs too; it may claim the row first (SKIP LOCKED), so
    # check the outcome in the database rather than who published it.
    async def attempted() -> bool:
        await relay.run_once()
        return bool((await outbox_row(pg, t.id))["attempts"] >= 1)

    await eventually(attempted)
    row = await outbox_row(pg, t.id)
    assert row["published_at"] is None and row["waiting"]
    assert await relay.run_once() == 0  # not due yet
    await pg.execute("UPDATE outbox SET next_attempt_at = now() WHERE id = $1", row["id"])

    async def done() -> bool:
        await relay.run_once()
        return (await outbox_row(pg, t.id))["published_at"] is not None

    await eventually(done)
    assert (await outbox_row(pg, t.id))["attempts"] == 2
    assert [d["id"] for d in hook.received] == [row["id"], row["id"]]


# -- events feed and live notices ----------------------------------------------------------
async def test_events_feed_pages_and_types(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    (partner, *_), (apples, pears, _) = await catalog(carla)
    after = 0

    async def new_events() -> list[tuple[str, str]]:
        nonlocal after
        reply = await carla.get(f"{API}/events?after={after}")
        assert reply.status == 200
        items = reply.body["items"]
        if items:
            assert reply.body["next_after"] == items[-1]["id"] > after
        after = reply.body["next_after"]
        return sorted((e["type"], e["aggregate_id"]) for e in items)

    order = await carla.new_order(partner, flows=[{"product_id": apples, "quantity": 2}])
    oid, first = order["id"], order["flows"][0]["id"]
    assert await new_events() == [("flow.added", first), ("preorder.created", oid)]
    path = f"{API}/preorders/{oid}"
    order = (await carla.patch(path, {"status": "confirmed"}, order["etag"])).body
    assert await new_events() == [("preorder.confirmed", oid)]
    order = (await carla.patch(path, {"delivery_date": "2026-12-24"}, order["etag"])).body
    assert await new_events() == [("preorder.updated", oid)]
    order = (await carla.patch(path, {"status": "pending"}, order["etag"])).body
    assert await new_events() == [("preorder.reopened", oid)]
    order = (await carla.patch(path, {"status": "cancelled"}, order["etag"])).body
    assert await new_events() == [("preorder.cancelled", oid)]
    order = (await carla.patch(path, {"status": "pending"}, order["etag"])).body
    assert await new_events() == [("preorder.reopened", oid)]
    added = await carla.call("POST", f"{path}/flows", {"product_id": pears, "quantity": 1})
    second = next(f for f in added.body["flows"] if f["id"] != first)
    assert await new_events() == [("flow.added", second["id"])]
    await carla.patch(f"{path}/flows/{second['id']}", {"quantity": 5}, second["etag"])
    assert await new_events() == [("flow.changed", second["id"])]
    await carla.call("DELETE", f"{path}/flows/{second['id']}")
    assert await new_events() == [("flow.removed", second["id"])]
    await carla.call("DELETE", path)
    assert await new_events() == [("preorder.deleted", oid)]
    assert await new_events() == []

    # A rep's sync goes through the same apply path: the same events.
    alice = rep(server, http, t, "alice")
    theirs = str(uuid.uuid4())
    alice.replica.edit_row("pre_orders", theirs, {"status": "pending", "tombstone": 0})
    await alice.sync()
    assert await new_events() == [("preorder.created", theirs)]

    # Paging: small pages give exactly the whole feed, in id order.
    whole = (await carla.get(f"{API}/events?limit=1000")).body["items"]
    assert len(whole) == 12
    paged: list[Any] = []
    cursor = 0
    while True:
        page = (await carla.get(f"{API}/events?after={cursor}&limit=3")).body
        if not page["items"]:
            assert page["next_after"] == cursor
            break
        assert len(page["items"]) <= 3
        paged += page["items"]
        cursor = page["next_after"]
    assert [e["id"] for e in paged] == [e["id"] for e in whole]
    assert [e["id"] for e in whole] == sorted(e["id"] for e in whole)
    confirmed = next(e for e in whole if e["type"] == "preorder.confirmed")
    assert confirmed["payload"]["changes"] == {"status": "confirmed"}
    assert (await carla.get(f"{API}/events?after=-1")).status == 422


async def test_live_socket_receives_event_notices(
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
) -> None:
    fast = await make_server(relay_interval_s=0.05)
    t = await make_tenant()
    carla = api(fast, http, t)
    partner = await carla.create_partner("Nordic")
    async with http.ws_connect(await live_url(http, fast.url, t.token("alice"))) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        order = await carla.new_order(partner)
        notices: list[dict[str, Any]] = []
        while not any(n["type"] == "event" for n in notices):
            notices.append(await ws.receive_json(timeout=5))
        event = next(n for n in notices if n["type"] == "event")
        assert event["event_type"] == "preorder.created"
        assert event["aggregate_id"] == order["id"]
        assert isinstance(event["id"], int)
        assert notices[0]["type"] == "changed"  # the commit itself, before the relay


# -- tenant isolation ----------------------------------------------------------------------
async def test_tenant_isolation_on_every_endpoint(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
) -> None:
    a, b = await make_tenant("A"), await make_tenant("B")
    alpha, beta = api(server, http, a), api(server, http, b)
    (partner_a, *_), (product_a, *_) = await catalog(alpha)
    order = await alpha.new_order(
        partner_a, flows=[{"product_id": product_a, "quantity": 3}], key="shared-key"
    )
    oid, fid = order["id"], order["flows"][0]["id"]
    hook_a = {"url": "http://127.0.0.1:9/tenant-a"}
    assert (await alpha.call("PUT", f"{API}/settings/webhook", hook_a)).status == 200
    airtable_a = {
        "base_id": "appTenantAbase",
        "table": "tenant-a-table",
        "api_key": "pat-key-of-tenant-a",
        "schedule_s": 0,
    }
    assert (await alpha.call("PUT", f"{API}/connectors/airtable", airtable_a)).status == 200
    secrets_of_a = {
        oid,
        fid,
        partner_a,
        product_a,
        "Partner 0",
        "Product 0",
        "tenant-a",
        "appTenantAbase",
        "pat-key-of-tenant-a",
    }
    covered: set[tuple[str, str]] = set()

    async def as_b(
        method: str, template: str, path: str, body: Any = None, **headers: str
    ) -> Reply:
        covered.add((method, template))
        reply = await beta.call(method, path, body, headers)
        assert reply.status < 500, reply.body
        # Nothing of A's comes back, except what B itself sent (echoed in an error).
        sent = path + json.dumps(body)
        leaked = {s for s in secrets_of_a if s in json.dumps(reply.body) and s not in sent}
        assert not leaked, (method, path, reply.body)
        return reply

    one, flows = f"{API}/preorders/{{id}}", f"{API}/preorders/{{id}}/flows"
    a_one, a_flows = f"{API}/preorders/{oid}", f"{API}/preorders/{oid}/flows"
    etag = order["etag"]
    assert (await as_b("GET", one, a_one)).status == 404
    assert (
        await as_b("PATCH", one, a_one, {"status": "confirmed"}, **{"If-Match": etag})
    ).status == 404
    assert (await as_b("DELETE", one, a_one)).status == 404
    assert (
        await as_b("POST", flows, a_flows, {"product_id": product_a, "quantity": 1})
    ).status == 404
    flow_one = f"{flows}/{{flow_id}}"
    assert (
        await as_b("PATCH", flow_one, f"{a_flows}/{fid}", {"quantity": 9}, **{"If-Match": "*"})
    ).status == 404
    assert (await as_b("DELETE", flow_one, f"{a_flows}/{fid}")).status == 404

    # B cannot reference A's partner or product, and A's idempotency key is not B's.
    create = f"{API}/preorders"
    borrowed = await as_b(
        "POST",
        create,
        create,
        {"partner_id": partner_a, "delivery_date": "2026-11-24"},
        **{"Idempotency-Key": "x"},
    )
    assert borrowed.status == 422
    partner_b = (await as_b("POST", f"{API}/partners", f"{API}/partners", {"name": "Bravo"})).body[
        "id"
    ]
    product_b = (
        await as_b("POST", f"{API}/products", f"{API}/products", {"name": "Beans", "sku": "B-1"})
    ).body["id"]
    body_b = {
        "partner_id": partner_b,
        "delivery_date": datetime.date.today().isoformat(),
        "flows": [{"product_id": product_b, "quantity": 2}],
    }
    own = await as_b("POST", create, create, body_b, **{"Idempotency-Key": "shared-key"})
    assert own.status == 201 and own.body["id"] != oid
    with_a_product = {**body_b, "flows": [{"product_id": product_a, "quantity": 1}]}
    assert (
        await as_b("POST", create, create, with_a_product, **{"Idempotency-Key": "y"})
    ).status == 422

    listed = await as_b("GET", create, f"{API}/preorders?limit=200")
    assert [o["id"] for o in listed.body["items"]] == [own.body["id"]]
    filtered = await as_b("GET", create, f"{API}/preorders?partner_id={partner_a}")
    assert filtered.body["items"] == []
    covered.add(("GET", f"{API}/preorders.csv"))  # CSV, not JSON: read here
    async with beta.http.get(
        f"{beta.base}{API}/preorders.csv", headers={"Authorization": f"Bearer {beta.token}"}
    ) as resp:
        exported = await resp.text()
    assert [line.split(",")[0] for line in exported.splitlines()[1:]] == [own.body["id"]]
    assert not {s for s in secrets_of_a if s in exported}
    partners = await as_b("GET", f"{API}/partners", f"{API}/partners?limit=500")
    assert [p["id"] for p in partners.body["items"]] == [partner_b]
    assert (await as_b("GET", f"{API}/partners", f"{API}/partners?q=Partner")).body["items"] == []
    products = await as_b("GET", f"{API}/products", f"{API}/products?limit=500")
    assert [p["id"] for p in products.body["items"]] == [product_b]
    events = await as_b("GET", f"{API}/events", f"{API}/events?after=0&limit=1000")
    assert {e["aggregate_id"] for e in events.body["items"]} == {
        own.body["id"],
        own.body["flows"][0]["id"],
    }
    hook = f"{API}/settings/webhook"
    assert (await as_b("GET", hook, hook)).body == {"url": None}
    assert (await as_b("PUT", hook, hook, {"url": "http://127.0.0.1:9/b"})).status == 200
    airtable = f"{API}/connectors/airtable"
    assert (await as_b("GET", airtable, airtable)).body["configured"] is False
    assert (await as_b("POST", airtable + "/sync", airtable + "/sync")).status == 404
    assert (
        await as_b(
            "PUT",
            airtable,
            airtable,
            {"base_id": "appTenantB", "table": "B", "api_key": "pat-b", "schedule_s": 0},
        )
    ).status == 200
    assert (await as_b("DELETE", airtable, airtable)).status == 204
    still_a = await alpha.call("GET", airtable)
    assert (still_a.body["base_id"], still_a.body["table"]) == ("appTenantAbase", "tenant-a-table")
    summary = await as_b("GET", f"{API}/summary", f"{API}/summary")
    assert [s["pre_orders"] for s in summary.body["by_status"]] == [1]
    assert [p["product_id"] for p in summary.body["top_products"]] == [product_b]
    assert [p["partner_id"] for p in summary.body["busiest_partners"]] == [partner_b]

    # People: B's admin sees none of A's users, invites or devices, and can touch none.
    alice_id = a.user_id("alice")
    invite_a = (
        await alpha.call("POST", f"{API}/invites", {"email": f"new-{oid[:8]}@a.example"})
    ).body["id"]
    device_a = ClientReplica()
    device_a.edit_field("pre_order_flows", fid, "quantity", 4)
    async with http.post(
        server.url + "/sync",
        json={"node": device_a.node, "messages": [m.to_json() for m in device_a.log.values()]},
        headers={"Authorization": f"Bearer {a.token('alice')}"},
    ) as resp:
        assert resp.status == 200
    secrets_of_a |= {alice_id, invite_a, device_a.node, "new-"}
    users = f"{API}/users"
    listed_users = await as_b("GET", users, users)
    assert alice_id not in json.dumps(listed_users.body)
    assert (await as_b("GET", f"{API}/invites", f"{API}/invites")).body["items"] == []
    assert (
        await as_b("DELETE", f"{API}/invites/{{id}}", f"{API}/invites/{invite_a}")
    ).status == 404
    for action, body in (("role", {"role": "admin"}), ("deactivate", None), ("reactivate", None)):
        template = f"{users}/{{id}}/{action}"
        assert (await as_b("POST", template, f"{users}/{alice_id}/{action}", body)).status == 404
    reset = f"{users}/{{id}}/reset-link"
    assert (await as_b("POST", reset, f"{users}/{alice_id}/reset-link")).status == 404
    profile = f"{users}/{{id}}"
    assert (await as_b("GET", profile, f"{users}/{alice_id}")).status == 404
    patched = await as_b(
        "PATCH", profile, f"{users}/{alice_id}", {"name": "Eve"}, **{"If-Match": '"1"'}
    )
    assert patched.status in (403, 404)
    devices = await as_b("GET", f"{API}/devices", f"{API}/devices")
    assert device_a.node not in json.dumps(devices.body)
    revoke = f"{API}/devices/{{node}}/revoke"
    assert (await as_b("POST", revoke, f"{API}/devices/{device_a.node}/revoke")).status == 404
    b_invite = await as_b("POST", f"{API}/invites", f"{API}/invites", {"email": "x@b.example"})
    assert b_invite.status == 201

    # A's conflict notices (the device's edit overwrote the REST value it had not seen):
    # B's say on them changes nothing.
    a_conflicts = await db_fetch(
        server.db_url,
        "SELECT id, winner_state, loser_state, seq FROM conflicts WHERE tenant_id = $1::uuid",
        a.id,
    )
    assert a_conflicts
    ids = [r["id"] for r in a_conflicts]
    states = f"{API}/conflicts/states"
    said = await as_b("POST", states, states, {"dismissed": ids, "resolved": ids})
    assert said.status == 200 and said.body == {"changed": 0}
    assert (
        await db_fetch(
            server.db_url,
            "SELECT id, winner_state, loser_state, seq FROM conflicts WHERE tenant_id = $1::uuid",
            a.id,
        )
    ) == a_conflicts

    # Every operation that reads or writes a tenant's data (the public ones serve the docs).
    every = {(op.method, op.path) for op in OPERATIONS if op.path.startswith(API) and op.roles}
    assert covered == every, f"not checked for isolation: {every - covered}"

    # And A's data is untouched by all of B's attempts.
    mine = await alpha.get(a_one)
    assert mine.status == 200 and mine.etag == etag and len(mine.body["flows"]) == 1
    assert (await alpha.get(hook)).body == hook_a
    assert [o["id"] for o in (await alpha.get(create)).body["items"]] == [oid]


# -- summary -------------------------------------------------------------------------------
async def seed_summary_data(
    server: Running, http: aiohttp.ClientSession, t: Tenant, pg: asyncpg.Connection
) -> None:
    """The demo generator's data, then the awkward cases: deleted orders and flows, an
    order without status or partner, flows without weight or product."""
    from seed import demo_stamper

    messages = demo_stamper(
        random.Random(7), days_back=14, days_ahead=14, partners=6, products=10
    ).messages
    await apply_messages(pg, t.id, t.user_id("carla"), messages)
    carla = api(server, http, t)
    orders = await carla.pages("", 200)
    for victim in orders[:5]:
        assert (await carla.call("DELETE", f"{API}/preorders/{victim['id']}")).status == 204
    for victim in orders[5:10]:
        flow = victim["flows"][0]
        path = f"{API}/preorders/{victim['id']}/flows/{flow['id']}"
        assert (await carla.call("DELETE", path)).status == 204
    product = (await carla.get(f"{API}/products?limit=1")).body["items"][0]["id"]
    added = await carla.call(
        "POST", f"{API}/preorders/{orders[10]['id']}/flows", {"product_id": product, "quantity": 11}
    )
    assert added.status == 201
    alice = rep(server, http, t, "alice")
    bare, flow = str(uuid.uuid4()), str(uuid.uuid4())
    alice.replica.edit_row(
        "pre_orders", bare, {"delivery_date": datetime.date.today().isoformat(), "tombstone": 0}
    )
    alice.replica.edit_row("pre_order_flows", flow, {"pre_order_id": bare, "quantity": 3})
    await alice.sync()


async def expected_summary(
    conn: asyncpg.Connection, tenant: str, start: datetime.date, end: datetime.date, top: int
) -> dict[str, Any]:
    """The dashboard's figures computed in Python from the materialized rows."""
    orders = {
        str(r["id"]): r
        for r in await conn.fetch("SELECT * FROM pre_orders WHERE tenant_id = $1", tenant)
        if r["tombstone"] != 1
    }
    flows = [
        r
        for r in await conn.fetch("SELECT * FROM pre_order_flows WHERE tenant_id = $1", tenant)
        if r["tombstone"] != 1
        and r["pre_order_id"] is not None
        and str(r["pre_order_id"]) in orders
    ]
    names = {
        table: {
            str(r["id"]): r
            for r in await conn.fetch(
                f"SELECT * FROM {table} WHERE tenant_id = $1",  # noqa: S608
                tenant,
            )
        }
        for table in ("partners", "products")
    }
    in_range = {
        i: o
        for i, o in orders.items()
        if o["delivery_date"] is not None and start <= o["delivery_date"] <= end
    }
    flows_of: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for f in flows:
        flows_of[str(f["pre_order_id"])].append(f)

    def qty(rows: list[asyncpg.Record], column: str = "quantity") -> float:
        return float(sum(r[column] or 0 for r in rows))

    statuses: dict[str, list[str]] = defaultdict(list)
    for i, o in in_range.items():
        if o["status"] is not None:
            statuses[o["status"]].append(i)
    by_status = [
        {
            "status": s,
            "pre_orders": len(ids),
            "quantity": sum(qty(flows_of[i]) for i in ids),
            "weight": sum(qty(flows_of[i], "weight") for i in ids),
        }
        for s, ids in sorted(statuses.items())
    ]
    per_product: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for i in in_range:
        for f in flows_of[i]:
            if f["product_id"] is not None:
                per_product[str(f["product_id"])].append(f)
    products = sorted(
        (
            {
                "product_id": p,
                "name": names["products"][p]["name"],
                "sku": names["products"][p]["sku"],
                "quantity": qty(fs),
                "weight": qty(fs, "weight"),
            }
            for p, fs in per_product.items()
        ),
        key=lambda x: (-x["quantity"], x["product_id"]),
    )[:top]
    days = Counter(o["delivery_date"] for o in orders.values())
    per_day = [
        {"date": (start + k * DAY).isoformat(), "pre_orders": days[start + k * DAY]}
        for k in range((end - start).days + 1)
    ]
    per_partner: dict[str, list[str]] = defaultdict(list)
    for i, o in in_range.items():
        if o["partner_id"] is not None:
            per_partner[str(o["partner_id"])].append(i)
    partners = sorted(
        (
            {
                "partner_id": p,
                "name": names["partners"][p]["name"],
                "pre_orders": len(ids),
                "quantity": sum(qty(flows_of[i]) for i in ids),
            }
            for p, ids in per_partner.items()
        ),
        key=lambda x: (-x["pre_orders"], -x["quantity"], x["partner_id"]),
    )[:top]
    return {
        "by_status": by_status,
        "top_products": products,
        "per_day": per_day,
        "busiest_partners": partners,
    }


def rounded(value: Any) -> Any:
    """Floats to 6 decimals, recursively: sums in another order differ in the last bits."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


async def test_summary_matches_a_direct_computation(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    await seed_summary_data(server, http, t, pg)
    carla = api(server, http, t)
    today = datetime.date.today()
    ranges = [
        ("", today - 30 * DAY, today + 30 * DAY, 10),
        (
            f"?from={today - 10 * DAY}&to={today + 10 * DAY}&top=3",
            today - 10 * DAY,
            today + 10 * DAY,
            3,
        ),
        (f"?from={today}&to={today}&top=100", today, today, 100),
    ]
    for query, start, end, top in ranges:
        reply = await carla.get(f"{API}/summary{query}")
        assert reply.status == 200, reply.body
        got = reply.body
        assert (got["date_from"], got["date_to"]) == (start.isoformat(), end.isoformat())
        want = await expected_summary(pg, t.id, start, end, top)
        if end > start:  # a wide range: the data exercises every part
            assert want["by_status"] and want["top_products"] and want["busiest_partners"]
        for part in ("by_status", "top_products", "per_day", "busiest_partners"):
            assert rounded(got[part]) == rounded(want[part]), (query, part)
        assert got["version"] == await pg.fetchval(
            "SELECT max(seq) FROM messages WHERE tenant_id = $1", t.id
        )
    assert (await carla.get(f"{API}/summary?from=2026-02-01&to=2026-01-01")).status == 422


async def test_summary_is_cached_and_computed_once_for_concurrent_requests(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    await seed_summary_data(server, http, t, pg)
    await outbox_drained(pg, server)
    cache = server.app[SUMMARY_CACHE]
    carla = api(server, http, t)
    before = cache.computed
    replies = await asyncio.gather(*(carla.get(f"{API}/summary") for _ in range(25)))
    assert {r.status for r in replies} == {200}
    assert len({json.dumps(r.body, sort_keys=True) for r in replies}) == 1
    assert cache.computed == before + 1, "concurrent requests did not share one computation"
    hits = cache.hits
    for _ in range(5):
        assert (await carla.get(f"{API}/summary")).body == replies[0].body
    assert cache.computed == before + 1 and cache.hits == hits + 5
    # Another range is another entry; a rep of the same tenant shares the cache.
    await carla.get(f"{API}/summary?top=3")
    assert cache.computed == before + 2
    assert (await api(server, http, t, "bob").get(f"{API}/summary")).body == replies[0].body
    assert cache.computed == before + 2


async def test_a_sync_from_a_rep_invalidates_the_summary(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    await seed_summary_data(server, http, t, pg)
    await outbox_drained(pg, server)
    carla = api(server, http, t)
    cache = server.app[SUMMARY_CACHE]
    old = (await carla.get(f"{API}/summary")).body
    assert (await carla.get(f"{API}/summary")).body == old  # cached
    computed = cache.computed

    def confirmed(summary: dict[str, Any]) -> tuple[int, float]:
        row = next(s for s in summary["by_status"] if s["status"] == "confirmed")
        return row["pre_orders"], row["quantity"]

    alice = rep(server, http, t, "alice")
    await alice.sync()
    order, flow = str(uuid.uuid4()), str(uuid.uuid4())
    alice.replica.edit_row(
        "pre_orders",
        order,
        {"delivery_date": datetime.date.today().isoformat(), "status": "confirmed", "tombstone": 0},
    )
    alice.replica.edit_row(
        "pre_order_flows", flow, {"pre_order_id": order, "quantity": 1000, "tombstone": 0}
    )
    await alice.sync()
    synced = time.monotonic()
    count_before, quantity_before = confirmed(old)
    while True:
        new = (await carla.get(f"{API}/summary")).body
        if confirmed(new) == (count_before + 1, quantity_before + 1000):
            break
        assert time.monotonic() - synced < 1.0, "the summary still shows the old figures"
        await asyncio.sleep(0.02)
    assert new["version"] > old["version"]
    assert cache.computed > computed


async def test_forged_cursors_are_refused(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
) -> None:
    import base64

    t = await make_tenant()
    carla = api(server, http, t)

    def forge(values: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    for values in (
        ["2026-01-01T00:00:00Z", "not-a-uuid"],
        ["a\x00b", str(uuid.uuid4())],
        [1, 2],
        ["x"],
        "text",
    ):
        for path in ("preorders", "partners", "products"):
            reply = await carla.get(f"{API}/{path}?cursor={forge(values)}")
            assert reply.status == 400, (path, values, reply.body)
            assert reply.body["code"] == "bad_request"
    for path in ("partners", "products"):
        reply = await carla.get(f"{API}/{path}?q=a%00b")
        assert reply.status == 422, reply.body
