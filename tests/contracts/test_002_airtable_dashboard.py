"""Seed 002 (the Airtable orders dashboard), by the document's own requests against Recap:
a real server and PostgreSQL, a local fake of Airtable's API (tests/airtable/fake_airtable.py)
on a real socket holding a 5,000-order `Orders` table in the document's shape, a connector in
"orders" mode, and a bearer token from `POST /auth/login`.

Checked: `POST /api/orders/sync` imports every record (paginated) and returns the summary,
which equals a direct computation over the fake's records (orders and sums of `Order Total`
in cents by status, orders created per UTC day over the last 30 days); `GET
/api/orders/summary` answers the same; `GET /api/orders?page=&pageSize=` pages newest first
with no duplicates; `PATCH /api/orders/{id}` (status and/or priority) is in the next summary
and list and reaches the Airtable record after the bridge's next run; Airtable failing gives
a 502 JSON `{code: "upstream_failed", message}`; and the order-total rule in SQL (the
summary's) equals the Python rule on random data."""

from __future__ import annotations

import asyncio
import datetime
import random
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest

from sync_server.keys import ORDERS_DASHBOARD
from sync_server.services.records import order_total
from sync_server.storage.summary import order_totals
from tests.airtable.fake_airtable import FakeAirtable, parse_iso_ms, seed_orders
from tests.airtable.helpers import connect_airtable, served
from tests.conftest import MakeServer, MakeTenant, Running, Tenant

KEY = "patSeed002.0123456789abcdef"
BASE = "appSeed002Orders"
TABLE = "Orders"
RATE = 20  # requests per second, Airtable's side and Recap's (5,000 records: 50 pages)


@dataclass
class Env:
    fake: FakeAirtable
    server: Running
    tenant: Tenant
    http: aiohttp.ClientSession

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        user: str = "mia",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        async with self.http.request(
            method,
            self.server.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.tenant.token(user)}", **(headers or {})},
        ) as resp:
            assert resp.content_type == "application/json", (resp.status, await resp.text())
            return resp.status, await resp.json()


@pytest.fixture
async def env(
    make_server: MakeServer, make_tenant: MakeTenant, http: aiohttp.ClientSession
) -> AsyncIterator[Env]:
    fake = FakeAirtable(api_key=KEY, rate_per_s=RATE, penalty_s=1.0)
    seed_orders(fake, BASE, name=TABLE)
    async with served(
        fake,
        make_server,
        make_tenant,
        managers=("mia",),
        airtable_rate_per_s=RATE,
        airtable_penalty_s=1.0,
        airtable_backoff_s=0.05,
    ) as (server, tenant):
        body = await connect_airtable(
            http,
            server,
            tenant.token("carla"),
            base_id=BASE,
            table=TABLE,
            api_key=KEY,
            schedule_s=0,
            mode="orders",
        )
        assert body["mode"] == "orders" and body["field_map"]["total"] == "Order Total"
        yield Env(fake, server, tenant, http)


def expected_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The document's figures, computed directly over Airtable's records."""
    counts: Counter[str] = Counter()
    sums: Counter[str] = Counter()
    priorities: Counter[str] = Counter()
    days: Counter[str] = Counter()
    for r in records:
        f = r["fields"]
        status = f["Status"].lower()
        counts[status] += 1
        sums[status] += round(f["Order Total"] * 100)
        priorities[f["Priority"].lower()] += 1
        day = datetime.datetime.fromtimestamp(parse_iso_ms(f["Created At"]) / 1000, datetime.UTC)
        days[day.date().isoformat()] += 1
    today = datetime.datetime.now(datetime.UTC).date()
    last30 = [(today - datetime.timedelta(days=29 - i)).isoformat() for i in range(30)]
    statuses = ["pending", "confirmed", "processing", "shipped", "delivered", "closed"]
    return {
        "totalOrders": len(records),
        "totalCents": sum(sums.values()),
        "byStatus": [
            {"status": s, "count": counts[s], "totalCents": sums[s]}
            for s in [*statuses, "cancelled"]
        ],
        "byPriority": [{"priority": p, "count": priorities[p]} for p in ("low", "medium", "high")],
        "perDay": [{"date": d, "count": days[d]} for d in last30],
    }


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("generatedAt", "version")}


def record_of(env: Env, order_id: str) -> dict[str, Any]:
    return next(r for r in env.fake.records(BASE, TABLE) if r["fields"]["Order ID"] == order_id)


async def test_sync_summary_list_patch_and_write_back(env: Env) -> None:
    status, empty = await env.call("GET", "/api/orders/summary")
    assert status == 200 and empty["totalOrders"] == 0 and len(empty["perDay"]) == 30

    # Five people press "Sync" at once: one run, each page of 100 records read once.
    env.fake.reset_measurements(BASE)
    answers = await asyncio.gather(*(env.call("POST", "/api/orders/sync") for _ in range(5)))
    assert all(status == 200 for status, _ in answers), answers
    synced = answers[0][1]
    assert all(figures(body) == figures(synced) for _, body in answers)
    reads = [entry for entry in env.fake.request_log(BASE) if entry[1] == "GET"]
    assert len(reads) == 50 and all(entry[3] == 200 for entry in reads)
    assert len(env.fake.request_log(BASE)) == 50  # nothing written to Airtable
    records = env.fake.records(BASE, TABLE)
    assert len(records) == 5_000
    want = expected_summary(records)
    assert figures(synced) == want
    assert sum(d["count"] for d in want["perDay"]) > 1_000  # the window is not empty
    status, again = await env.call("GET", "/api/orders/summary")
    assert status == 200 and figures(again) == want
    # A crowd reading the summary costs at most one computation (the cache), no Airtable call.
    cache = env.server.app[ORDERS_DASHBOARD].cache
    computed = cache.computed
    crowd = await asyncio.gather(*(env.call("GET", "/api/orders/summary") for _ in range(100)))
    assert all(status == 200 and body == again for status, body in crowd)
    assert cache.computed == computed
    assert len(env.fake.request_log(BASE)) == 50

    # The list: page numbers, newest first by (createdAt, id), no duplicates.
    status, first = await env.call("GET", "/api/orders?page=1&pageSize=200")
    assert status == 200 and first["total"] == 5_000 and first["page"] == 1
    assert first["pageSize"] == 200 and len(first["items"]) == 200
    status, second = await env.call("GET", "/api/orders?page=2&pageSize=200")
    keys = [(i["createdAt"], i["id"]) for i in first["items"] + second["items"]]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == 400
    newest = max(records, key=lambda r: r["fields"]["Created At"])
    top = first["items"][0]
    assert top["orderId"] == newest["fields"]["Order ID"]
    assert top["airtableRecordId"] == newest["id"]
    assert top["customer"] == newest["fields"]["Customer"]
    assert top["totalCents"] == round(newest["fields"]["Order Total"] * 100)
    assert top["status"] == newest["fields"]["Status"].lower()
    assert top["priority"] == newest["fields"]["Priority"].lower()
    status, last = await env.call("GET", "/api/orders?page=100&pageSize=50")
    assert status == 200 and len(last["items"]) == 50
    status, beyond = await env.call("GET", "/api/orders?page=101&pageSize=50")
    assert status == 200 and beyond["items"] == [] and beyond["total"] == 5_000
    for bad in ("page=0", "pageSize=0", "pageSize=201", "page=x"):
        status, body = await env.call("GET", f"/api/orders?{bad}")
        assert status == 422 and body["code"] == "invalid", bad

    # A manager moves a processing order to shipped and raises its priority.
    target = next(
        i for i in first["items"] if i["status"] == "processing" and i["priority"] != "high"
    )
    status, patched = await env.call(
        "PATCH", f"/api/orders/{target['id']}", {"status": "Shipped", "priority": "high"}
    )
    assert status == 200, patched
    assert (patched["status"], patched["priority"]) == ("shipped", "high")
    assert patched["version"] == target["version"] + 1
    status, after = await env.call("GET", "/api/orders/summary")
    moved = {s["status"]: s for s in after["byStatus"]}
    before = {s["status"]: s for s in want["byStatus"]}
    cents = target["totalCents"]
    assert moved["processing"]["count"] == before["processing"]["count"] - 1
    assert moved["shipped"]["count"] == before["shipped"]["count"] + 1
    assert moved["processing"]["totalCents"] == before["processing"]["totalCents"] - cents
    assert moved["shipped"]["totalCents"] == before["shipped"]["totalCents"] + cents
    status, listed = await env.call("GET", "/api/orders?page=1&pageSize=200")
    row = next(i for i in listed["items"] if i["id"] == target["id"])
    assert (row["status"], row["priority"]) == ("shipped", "high")

    # The bridge's next run writes it back to the Airtable record (and only it).
    status, resynced = await env.call("POST", "/api/orders/sync")
    assert status == 200
    record = record_of(env, target["orderId"])
    assert (record["fields"]["Status"], record["fields"]["Priority"]) == ("Shipped", "High")
    assert figures(resynced) == expected_summary(env.fake.records(BASE, TABLE))
    assert len(env.fake.records(BASE, TABLE)) == 5_000  # nothing created in Airtable

    # By Order ID too, by a rep, with an If-Match; the rules of the lifecycle hold.
    status, body = await env.call(
        "PATCH",
        f"/api/orders/{target['orderId']}",
        {"status": "delivered"},
        user="alice",
        headers={"If-Match": f'"{patched["version"]}"'},
    )
    assert status == 200 and body["status"] == "delivered", body
    status, body = await env.call(
        "PATCH",
        f"/api/orders/{target['id']}",
        {"priority": "low"},
        headers={"If-Match": f'"{patched["version"]}"'},
    )
    assert status == 409 and body == {**body, "code": "conflict", "message": "stale version"}
    status, body = await env.call("PATCH", f"/api/orders/{target['id']}", {"status": "pending"})
    assert status == 409 and body["code"] == "invalid_transition"
    status, body = await env.call("PATCH", f"/api/orders/{target['id']}", {"status": "closed"})
    assert status == 422 and "Airtable" in body["message"]  # Status has no "Closed" option
    bad_bodies: list[dict[str, Any]] = [{}, {"status": "lost"}, {"priority": "x"}, {"total": 5}]
    for bad_body in bad_bodies:
        status, body = await env.call("PATCH", f"/api/orders/{target['id']}", bad_body)
        assert status == 422 and body["code"] == "invalid", bad_body
    status, body = await env.call("PATCH", "/api/orders/ORD-99999", {"priority": "low"})
    assert status == 404 and body["code"] == "not_found"


async def test_airtable_failing_is_a_useful_502(env: Env) -> None:
    env.fake.fail_next(BASE, 1_000, 503)
    status, body = await env.call("POST", "/api/orders/sync")
    assert status == 502, body
    assert body["code"] == "upstream_failed"
    assert "Airtable" in body["message"] and "503" in body["message"]
    env.fake.fail_next(BASE, 0)
    await env.fake.close()  # nobody listening on that port any more
    status, body = await env.call("POST", "/api/orders/sync")
    assert status == 502 and body["code"] == "upstream_failed", body


async def test_sql_total_rule_equals_the_python_rule(env: Env) -> None:
    """Random products, prices, quantities, cancelled lines and set totals: the total the
    summary's SQL computes (`pre_order_totals`) is the one the API's Python rule gives."""
    rng = random.Random(20021)
    products = []
    for n in range(8):
        price = rng.choice([None, rng.randrange(1, 100_000)])
        status, body = await env.call(
            "POST",
            "/api/v1/products",
            {"name": f"P{n}", "unit_price_cents": price},
            user="carla",
        )
        assert status == 201, body
        products.append(body["id"])
    status, partner = await env.call("POST", "/api/v1/partners", {"name": "Rand"}, user="carla")
    assert status == 201, partner
    ids: list[str] = []
    documents: dict[str, dict[str, Any]] = {}
    sent_totals: dict[str, Any] = {}
    for _ in range(60):
        flows = [
            {
                "product_id": rng.choice(products),
                "quantity": rng.choice([0, 1, 2.5, rng.random() * 1000, rng.randrange(10**6)]),
                "price_cents": rng.choice([None, rng.randrange(0, 10**7)]),
                "status": rng.choice(["open", "confirmed", "cancelled"]),
            }
            for _ in range(rng.randrange(0, 6))
        ]
        body = {
            "partner_id": partner["id"],
            "delivery_date": "2026-12-01",
            "flows": flows,
            "total_cents": rng.choice([None, None, None, rng.randrange(0, 10**9)]),
        }
        status, order = await env.call(
            "POST",
            "/api/v1/preorders",
            body,
            user="alice",
            headers={"Idempotency-Key": secrets.token_hex(8)},
        )
        assert status == 201, order
        ids.append(order["id"])
        documents[order["id"]] = order
        sent_totals[order["id"]] = body["total_cents"]
    conn = await asyncpg.connect(env.server.db_url)
    try:
        in_sql = await order_totals(conn, env.tenant.id, ids)
    finally:
        await conn.close()
    for i in ids:
        # The API's total is the Python rule (`services.records.order_total`), here redone
        # from the document's lines when no total was set on the order.
        doc = documents[i]
        assert in_sql[i] == doc["total_cents"], (i, in_sql[i], doc)
        if sent_totals[i] is None:
            assert order_total(None, doc["flows"]) == in_sql[i]
    assert len({v for v in in_sql.values() if v is not None}) > 30  # varied, not all null
