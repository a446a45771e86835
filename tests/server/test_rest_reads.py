"""Issue 20, "REST reads at scale": a page of `GET /api/v1/preorders` is one SQL statement
(the page, its documents with their flows, and the next cursor's key), and its bytes are
the ones the API's models (`PreOrderPage`) would give: the same documents, fields, order and
spelling as a pre-order read on its own."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import asyncpg
import orjson

from crdt.message import Message
from recap_client import ClientReplica, SyncClient
from sync_server.api.cursors import encode_cursor
from sync_server.auth import issue_token
from sync_server.database import _init_connection
from sync_server.keys import POOL
from sync_server.models import PreOrderPage
from sync_server.storage.apply import apply_messages
from tests.conftest import TEST_SECRET, MakeServer, MakeTenant, Running

API = "/api/v1"


class Statements:
    """Every statement the server's pool connections run (asyncpg's query loggers)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, record: Any) -> None:
        self.seen.append(" ".join(record.query.split()))

    async def watch(self, server: Running, size: int) -> None:
        """Put the logger on each of the pool's `size` connections (the pool is of that
        size, so these are all it will ever use)."""
        pool = server.app[POOL]
        held = [await pool.acquire() for _ in range(size)]
        for conn in held:
            conn.add_query_logger(self)
        for conn in held:
            await pool.release(conn)


async def get(http: aiohttp.ClientSession, url: str, token: str) -> tuple[int, bytes]:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.read()


async def post(
    http: aiohttp.ClientSession, url: str, token: str, body: Any, **headers: str
) -> dict[str, Any]:
    sent = {"Authorization": f"Bearer {token}", **headers}
    async with http.post(url, json=body, headers=sent) as resp:
        assert resp.status == 201, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


async def orders(
    http: aiohttp.ClientSession, base: str, token: str, db_url: str, tenant: str
) -> None:
    """Pre-orders of every shape a page shows: integral and fractional quantities, weights
    and none, several flows and none, a removed flow, a deleted pre-order, a deleted
    partner, and (written as a device would) a pre-order without a partner or a creation
    time and a flow whose product does not exist."""
    partners = [
        (await post(http, f"{base}{API}/partners", token, {"name": f"Partner {i}"}))["id"]
        for i in range(3)
    ]
    products = [
        (await post(http, f"{base}{API}/products", token, {"name": f"P{i}", "sku": f"S{i}"}))["id"]
        for i in range(3)
    ]
    quantities: list[tuple[float, float | None]] = [(12, 30.5), (2.25, None), (1e12, 0.1)]
    created = []
    for i in range(7):
        flows = [
            {"product_id": products[(i + j) % 3], "quantity": q, "weight": w}
            for j, (q, w) in enumerate(quantities[: i % 4])
        ]
        body = {
            "partner_id": partners[i % 3],
            "delivery_date": f"2026-12-0{1 + i % 3}",
            "status": "confirmed" if i % 2 else "pending",
            "flows": [{k: v for k, v in f.items() if v is not None} for f in flows],
        }
        created.append(
            await post(http, f"{base}{API}/preorders", token, body, **{"Idempotency-Key": str(i)})
        )
    auth = {"Authorization": f"Bearer {token}"}
    order = created[3]
    flow = order["flows"][1]
    url = f"{base}{API}/preorders/{order['id']}/flows/{flow['id']}"
    async with http.delete(url, headers=auth) as resp:
        assert resp.status == 204, await resp.text()
    async with http.delete(f"{base}{API}/preorders/{created[4]['id']}", headers=auth) as resp:
        assert resp.status == 204, await resp.text()
    conn = await asyncpg.connect(db_url)
    await _init_connection(conn)
    try:
        stamp = "2026-11-01T08:00:00.000Z-{:04X}-0123456789abcdef"
        bare, flow_id = str(uuid.uuid4()), str(uuid.uuid4())
        fields: list[tuple[str, str, str, Any]] = [
            ("pre_orders", bare, "status", "pending"),
            ("pre_orders", bare, "tombstone", 0),
            ("pre_order_flows", flow_id, "pre_order_id", bare),
            ("pre_order_flows", flow_id, "product_id", str(uuid.uuid4())),
            ("pre_order_flows", flow_id, "quantity", 3),
            ("partners", partners[2], "tombstone", 1),
        ]
        messages = [
            Message(dataset, row, column, value, stamp.format(i))
            for i, (dataset, row, column, value) in enumerate(fields)
        ]
        await apply_messages(conn, tenant, None, messages)
    finally:
        await conn.close()


def cursor_of(page: dict[str, Any]) -> str | None:
    value: str | None = page["next_cursor"]
    return value


async def test_list_pages_are_the_models_bytes(
    server: Running, make_tenant: MakeTenant, http: aiohttp.ClientSession, db_url: str
) -> None:
    t = await make_tenant()
    token = t.token("carla")
    await orders(http, server.url, token, db_url, t.id)
    for query in ("", "&status=confirmed", "&delivery_date=2026-12-02", "&status=pending"):
        cursor, seen = None, 0
        while True:
            url = f"{server.url}{API}/preorders?limit=2{query}"
            status, raw = await get(http, url + (f"&cursor={cursor}" if cursor else ""), token)
            assert status == 200, raw
            page = orjson.loads(raw)
            alone = []
            for item in page["items"]:
                status, one = await get(http, f"{server.url}{API}/preorders/{item['id']}", token)
                assert status == 200, one
                alone.append(orjson.loads(one))
            if page["items"]:
                last = page["items"][-1]
                assert page["next_cursor"] in (
                    None,
                    encode_cursor([last["created_at"] or "", last["id"]]),
                )
            model = PreOrderPage.model_validate(
                {"items": alone, "next_cursor": page["next_cursor"]}
            )
            assert raw == orjson.dumps(model.model_dump(mode="json")), (query, page)
            seen += len(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen > 0, query
    status, raw = await get(http, f"{server.url}{API}/preorders?limit=50", token)
    everything = orjson.loads(raw)["items"]
    assert len(everything) == 7  # 7 created, one deleted, one written by a device
    integral = [f for o in everything for f in o["flows"] if f["quantity"] == 12]
    assert integral and b'"quantity":12.0' in raw


async def test_a_list_page_is_one_statement(
    make_server: MakeServer, make_tenant: MakeTenant, http: aiohttp.ClientSession, db_url: str
) -> None:
    """Every statement the server runs for a page, counted on its pool's connections: the
    caller's session (read apart, as for every operation), the tenant's message count (the
    page cache's check), and one statement for the page, its documents and its cursor,
    whatever the filters and whether there is a next page; none when the page is kept."""
    t = await make_tenant()
    token = t.token("carla")
    server = await make_server(relay_enabled=False, pool_min=2, pool_max=2)
    await orders(http, server.url, token, db_url, t.id)
    statements = Statements()
    await statements.watch(server, 2)
    cursor = None
    for query in ("limit=2", "limit=2", "limit=2&status=pending", "limit=50", "limit=1"):
        url = f"{server.url}{API}/preorders?{query}" + (f"&cursor={cursor}" if cursor else "")
        statements.seen.clear()
        status, raw = await get(http, url, token)
        assert status == 200, raw
        cursor = orjson.loads(raw)["next_cursor"] if query == "limit=2" else None
        session = [s for s in statements.seen if "FROM sessions" in s]
        count = [s for s in statements.seen if "FROM merkle_nodes" in s]
        page = [s for s in statements.seen if s not in session and s not in count]
        assert len(session) == 1 and len(count) == 1, statements.seen
        assert len(page) == 1, (query, page)
        assert "FROM pre_orders" in page[0], page
    # Asked again, with nothing changed: answered from memory, the same bytes.
    for query in ("limit=50", "limit=50&status=pending"):
        url = f"{server.url}{API}/preorders?{query}"
        first = await get(http, url, token)
        statements.seen.clear()
        assert await get(http, url, token) == first
        assert not [s for s in statements.seen if "FROM pre_orders" in s], statements.seen


async def test_a_kept_page_is_never_stale_on_any_process(
    make_server: MakeServer, make_tenant: MakeTenant, http: aiohttp.ClientSession, db_url: str
) -> None:
    """A change answered by one process is in the next page read on another, though that
    page was kept there a moment before (the count moves at the change's commit)."""
    t = await make_tenant()
    token = t.token("carla")
    here, there = await make_server(relay_enabled=False), await make_server(relay_enabled=False)
    await orders(http, here.url, token, db_url, t.id)
    url = f"{there.url}{API}/preorders?limit=50"
    _, before = await get(http, url, token)
    kept = orjson.loads(before)["items"]
    for round_ in range(3):
        order = kept[round_]
        status = "confirmed" if order["status"] != "confirmed" else "pending"
        async with http.patch(
            f"{here.url}{API}/preorders/{order['id']}",
            json={"status": status},
            headers={"Authorization": f"Bearer {token}", "If-Match": order["etag"]},
        ) as resp:
            assert resp.status == 200, await resp.text()
        _, after = await get(http, url, token)
        kept = orjson.loads(after)["items"]
        assert next(o for o in kept if o["id"] == order["id"])["status"] == status
    # A device's push through /sync moves it too.
    device = SyncClient(there.url, ClientReplica(), http, token)
    await device.sync()
    gone = kept[0]["id"]
    device.replica.edit_field("pre_orders", gone, "tombstone", 1)
    await device.sync()
    _, last = await get(http, url, token)
    assert gone not in {o["id"] for o in orjson.loads(last)["items"]}


def test_the_page_cache_is_bounded_by_bytes() -> None:
    from sync_server.services.pages import PageCache

    cache = PageCache(max_bytes=1000)
    for i in range(10):
        cache.put(("t", i), 5, b"x" * 300)
    assert cache.bytes <= 1000 and len(cache.entries) == 3
    assert cache.get(("t", 9), 5) == b"x" * 300
    assert cache.get(("t", 9), 6) is None  # the tenant changed since
    assert cache.get(("t", 0), 5) is None  # least recently used, out
    cache.put(("t", "big"), 5, b"x" * 2000)  # larger than the whole cache: not kept
    assert cache.get(("t", "big"), 5) is None and cache.bytes <= 1000


async def answer(http: aiohttp.ClientSession, url: str, token: str) -> tuple[int, Any, str | None]:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, orjson.loads(await resp.read()), resp.headers.get("Retry-After")


async def test_the_list_refuses_as_every_operation_refuses(
    server: Running, make_server: MakeServer, make_tenant: MakeTenant, http: aiohttp.ClientSession
) -> None:
    """The list answers a session that ended (signed out, role changed, deactivated, device
    revoked) or never was exactly as another operation does (the partners' list), at the
    very next request and on every process: this one and another, which learns of the
    change only from the database. A malformed query of such a session is refused for the
    session first."""
    t = await make_tenant(reps=("alice", "bob", "dave", "erin"))
    there = await make_server()
    admin = t.token("carla")
    device = SyncClient(server.url, ClientReplica(), http, t.token("erin"))
    await device.sync()
    changes = [
        ("POST", "/auth/logout", t.token("alice"), None),
        ("POST", f"{API}/users/{t.user_id('bob')}/role", admin, {"role": "admin"}),
        ("POST", f"{API}/users/{t.user_id('dave')}/deactivate", admin, None),
        ("POST", f"{API}/devices/{device.replica.node}/revoke", admin, None),
    ]
    ghost = issue_token(TEST_SECRET, str(uuid.uuid4()), t.user_id("alice"), t.id, 3600)
    codes = []
    for (method, path, who, body), ended in zip(
        changes, ["alice", "bob", "dave", "erin"], strict=True
    ):
        token = t.token(ended)
        for base in (server.url, there.url):
            status, _, _ = await answer(http, f"{base}{API}/preorders?limit=5", token)
            assert status == 200
        headers = {"Authorization": f"Bearer {who}"}
        async with http.request(method, server.url + path, json=body, headers=headers) as resp:
            assert resp.status in (200, 204), await resp.text()
        for base in (there.url, server.url):
            for query in ("limit=5", "limit=0", "cursor=forged"):
                listed = await answer(http, f"{base}{API}/preorders?{query}", token)
                apart = await answer(http, f"{base}{API}/partners", token)
                assert listed == apart and listed[0] in (401, 403), (ended, query, listed)
                codes.append(listed[1]["code"])
    assert set(codes) == {"session_ended", "account_disabled", "device_revoked"}
    for base in (server.url, there.url):
        listed = await answer(http, f"{base}{API}/preorders", ghost)
        assert listed == await answer(http, f"{base}{API}/partners", ghost)
        assert listed[0] == 401


async def test_over_its_rate_the_list_answers_429_as_every_operation(
    make_server: MakeServer, make_tenant: MakeTenant, http: aiohttp.ClientSession
) -> None:
    """A caller with no rate-limit token left is refused as any other operation refuses it."""
    t = await make_tenant()
    slow = await make_server(rate_per_s=0.01, rate_burst=3)
    token = t.token("alice")
    for _ in range(2):
        assert (await answer(http, f"{slow.url}{API}/preorders", token))[0] == 200
    assert (await answer(http, f"{slow.url}{API}/partners", token))[0] == 200
    listed = await answer(http, f"{slow.url}{API}/preorders", token)
    apart = await answer(http, f"{slow.url}{API}/partners", token)
    assert listed[0] == apart[0] == 429 and listed[1]["code"] == apart[1]["code"]
    assert listed[2] is not None
