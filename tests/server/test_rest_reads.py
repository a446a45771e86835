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
from sync_server.api.cursors import encode_cursor
from sync_server.database import _init_connection
from sync_server.keys import POOL
from sync_server.models import PreOrderPage
from sync_server.storage.apply import apply_messages
from tests.conftest import MakeServer, MakeTenant, Running

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
    caller's session, and one statement for the page, its documents and its cursor,
    whatever the filters and whether there is a next page."""
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
        page = [s for s in statements.seen if s not in session]
        assert len(session) == 1, statements.seen
        assert len(page) == 1, (query, page)
        assert "FROM pre_orders" in page[0], page
