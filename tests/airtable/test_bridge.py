"""The Airtable bridge against a local fake of Airtable's API (tests/airtable/fake_airtable.py)
served on a real socket, with the real server and PostgreSQL: a 2,500-record import,
incremental runs, write-back in batches of 10, the shared rate limit (measured by the fake),
429 and 5xx recovery, coalesced triggers, LWW conflicts ending equal on both sides, errors,
encrypted credentials and the schedule."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.conftest import MakeServer, MakeTenant, Running, Tenant, db_fetch

from .fake_airtable import FakeAirtable, order_line_fields
from .helpers import CONNECTOR_API as API
from .helpers import connect_airtable, served

KEY = "patRecapTest.0123456789abcdef"
BASE = "appRecapTest0001"
TABLE = "Orders"
PENALTY_S = 1.0


def wall_ms() -> int:
    return int(time.time() * 1000)


class FakeClock:
    """Airtable's clock, which the test sets: modification times decide LWW conflicts."""

    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


@dataclass
class Env:
    fake: FakeAirtable
    clock: FakeClock
    server: Running
    tenant: Tenant
    http: aiohttp.ClientSession

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        user: str = "carla",
        server: Running | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        async with self.http.request(
            method,
            (server or self.server).url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.tenant.token(user)}", **(headers or {})},
        ) as resp:
            text = await resp.text()
            return resp.status, (await resp.json()) if text else None

    async def connect(self, table: str = TABLE, key: str = KEY, **extra: Any) -> None:
        config = {"base_id": BASE, "table": table, "api_key": key, "schedule_s": 0, **extra}
        await connect_airtable(self.http, self.server, self.tenant.token("carla"), **config)

    async def sync(self, server: Running | None = None) -> dict[str, Any]:
        status, body = await self.call("POST", API + "/sync", server=server)
        assert status == 200, body
        assert isinstance(body, dict)
        return body

    def user_create(self, fields: dict[str, Any], table: str = TABLE) -> str:
        self.clock.t += 1000
        return self.fake.user_create(BASE, table, fields)

    def user_update(self, record_id: str, fields: dict[str, Any], at: int | None = None) -> None:
        self.clock.t = at if at is not None else self.clock.t + 1000
        self.fake.user_update(BASE, TABLE, record_id, fields)


@pytest.fixture
async def env(
    make_server: MakeServer, make_tenant: MakeTenant, http: aiohttp.ClientSession
) -> AsyncIterator[Env]:
    clock = FakeClock(wall_ms() - 2 * 3600_000)
    fake = FakeAirtable(api_key=KEY, rate_per_s=5, penalty_s=PENALTY_S, now_ms=clock)
    fake.add_table(BASE, "tblOrders", TABLE, order_line_fields())
    async with served(
        fake, make_server, make_tenant, airtable_penalty_s=PENALTY_S, airtable_backoff_s=0.05
    ) as (server, tenant):
        yield Env(fake, clock, server, tenant, http)


def seed(env: Env, orders: int, lines: int, table: str = TABLE) -> None:
    for o in range(orders):
        for n in range(lines):
            env.user_create(
                {
                    "Order": f"ORD-{o:04d}",
                    "Partner": f"Partner {o % 37}",
                    "Delivery date": f"2026-12-{1 + o % 28:02d}",
                    "Status": "confirmed" if o % 3 == 0 else "pending",
                    "Product": f"Product {(o * 7 + n) % 53}",
                    "Quantity": (o + n) % 20 + 1,
                },
                table,
            )


Line = tuple[str, str | None, str | None, str | None, str | None, float | None]


async def recap_lines(env: Env) -> Counter[Line]:
    """Every live line of every live pre-order (an order without lines counts as one empty
    line), as Airtable should show it."""
    rows = await db_fetch(
        env.server.db_url,
        """SELECT p.id::text AS po, pa.name AS partner, p.delivery_date::text AS date,
                  p.status, pr.name AS product, f.quantity
           FROM pre_orders p
           LEFT JOIN partners pa ON pa.tenant_id = p.tenant_id AND pa.id = p.partner_id
           LEFT JOIN pre_order_flows f ON f.tenant_id = p.tenant_id AND f.pre_order_id = p.id
                AND coalesce(f.tombstone, 0) = 0
           LEFT JOIN products pr ON pr.tenant_id = f.tenant_id AND pr.id = f.product_id
           WHERE p.tenant_id = $1 AND coalesce(p.tombstone, 0) = 0""",
        env.tenant.id,
    )
    return Counter(
        (
            r["po"],
            r["partner"],
            r["date"],
            r["status"],
            r["product"],
            float(r["quantity"]) if r["quantity"] is not None else None,
        )
        for r in rows
    )


async def airtable_lines(env: Env) -> Counter[Line]:
    links = {
        r["record_id"]: r["po"]
        for r in await db_fetch(
            env.server.db_url,
            "SELECT record_id, pre_order_id::text AS po FROM airtable_links WHERE tenant_id = $1",
            env.tenant.id,
        )
    }
    out: Counter[Line] = Counter()
    for record in env.fake.records(BASE, TABLE):
        cells = record["fields"]
        quantity = cells.get("Quantity")
        out[
            (
                links.get(record["id"], "unlinked:" + record["id"]),
                cells.get("Partner"),
                cells.get("Delivery date"),
                cells.get("Status"),
                cells.get("Product"),
                float(quantity) if quantity is not None else None,
            )
        ] += 1
    return out


async def assert_equal_sides(env: Env) -> None:
    recap, airtable = await recap_lines(env), await airtable_lines(env)
    assert recap == airtable, (recap - airtable, airtable - recap)


def writes(env: Env) -> list[tuple[str, str]]:
    return [(method, path) for _, method, path, _ in env.fake.request_log(BASE) if method != "GET"]


async def test_import_2500_records_then_incremental_runs(env: Env) -> None:
    seed(env, orders=500, lines=5)
    await env.connect()
    run = await env.sync()
    assert run["status"] == "ok"
    assert run["records_read"] == 2500 and run["records_imported"] == 2500
    assert run["problems"] == []
    # 25 pages of 100, nothing to write back (Recap holds exactly what Airtable has)
    assert run["requests"] == 25 and run["records_created"] == run["records_updated"] == 0
    counts = await db_fetch(
        env.server.db_url,
        """SELECT (SELECT count(*) FROM pre_orders WHERE tenant_id = $1) AS orders,
                  (SELECT count(*) FROM pre_order_flows WHERE tenant_id = $1) AS flows,
                  (SELECT count(*) FROM partners WHERE tenant_id = $1) AS partners,
                  (SELECT count(*) FROM products WHERE tenant_id = $1) AS products,
                  (SELECT count(DISTINCT origin) FROM messages WHERE tenant_id = $1) AS origins""",
        env.tenant.id,
    )
    assert dict(counts[0]) == {
        "orders": 500,
        "flows": 2500,
        "partners": 37,
        "products": 53,
        "origins": 1,
    }
    await assert_equal_sides(env)
    assert env.fake.max_requests_in_window(BASE) <= 5
    assert env.fake.rate_limited(BASE) == 0

    # Nothing changed: an incremental run reads only the last records (the 2 s overlap).
    env.fake.reset_measurements(BASE)
    again = await env.sync()
    assert again["records_read"] <= 3 and again["messages_written"] == 0
    assert again["requests"] == 1
    path = env.fake.request_log(BASE)[0][2]
    assert "filterByFormula=IS_AFTER" in path

    # Two edits in Airtable: the next run reads just those and applies them.
    first, second = env.fake.records(BASE, TABLE)[10], env.fake.records(BASE, TABLE)[777]
    env.clock.t += 60_000
    env.user_update(first["id"], {"Quantity": 999})
    env.user_update(second["id"], {"Status": "confirmed", "Delivery date": "2027-01-15"})
    third = await env.sync()
    # the two edited records, and the two re-read in the overlap before the watermark
    assert third["records_read"] == 4 and third["records_imported"] == 2
    assert third["messages_written"] == 1 + (2 if second["fields"]["Status"] == "pending" else 1)
    await assert_equal_sides(env)


async def patch(env: Env, path: str, body: dict[str, Any], user: str = "alice") -> None:
    """A rep's edit through the REST API (If-Match with the pre-order's current ETag)."""
    async with env.http.get(
        env.server.url + path.split("/flows/")[0],
        headers={"Authorization": f"Bearer {env.tenant.token(user)}"},
    ) as resp:
        etag = resp.headers["ETag"]
    status, out = await env.call("PATCH", path, body, user=user, headers={"If-Match": etag})
    if status == 412 and "/flows/" in path:  # a flow's version is its own
        status, out = await env.call(
            "PATCH", path, body, user=user, headers={"If-Match": out["current_etag"]}
        )
    assert status == 200, out


async def test_recap_edits_are_written_back_in_batches_of_ten(env: Env) -> None:
    seed(env, orders=8, lines=5)
    await env.connect()
    await env.sync()
    orders = await db_fetch(
        env.server.db_url,
        "SELECT id::text, status FROM pre_orders WHERE tenant_id = $1 ORDER BY id",
        env.tenant.id,
    )
    pending = [r["id"] for r in orders if r["status"] == "pending"]
    for po in pending[:3]:  # 3 orders x 5 lines: 15 records to update
        await patch(env, f"/api/v1/preorders/{po}", {"status": "confirmed"})
    flow = (
        await db_fetch(
            env.server.db_url,
            "SELECT id::text, pre_order_id::text FROM pre_order_flows WHERE tenant_id = $1 "
            "AND pre_order_id = $2::uuid LIMIT 1",
            env.tenant.id,
            pending[3],
        )
    )[0]
    await patch(
        env, f"/api/v1/preorders/{flow['pre_order_id']}/flows/{flow['id']}", {"quantity": 42}
    )
    doomed = pending[4]
    status, _ = await env.call("DELETE", f"/api/v1/preorders/{doomed}", user="alice")
    assert status == 204
    ids = await db_fetch(
        env.server.db_url,
        """SELECT (SELECT id::text FROM partners WHERE tenant_id = $1 LIMIT 1) AS partner,
                  (SELECT id::text FROM products WHERE tenant_id = $1 ORDER BY name LIMIT 1) AS a,
                  (SELECT id::text FROM products WHERE tenant_id = $1 ORDER BY name DESC LIMIT 1)
                  AS b""",
        env.tenant.id,
    )
    status, created = await env.call(
        "POST",
        "/api/v1/preorders",
        {
            "partner_id": ids[0]["partner"],
            "delivery_date": "2027-02-01",
            "flows": [
                {"product_id": ids[0]["a"], "quantity": 3},
                {"product_id": ids[0]["b"], "quantity": 4.5},
            ],
        },
        user="bob",
        headers={"Idempotency-Key": "new-order-1"},
    )
    assert status == 201, created

    env.fake.reset_measurements(BASE)
    run = await env.sync()
    assert run["status"] == "ok", run
    assert run["records_updated"] == 16 and run["records_deleted"] == 5
    assert run["records_created"] == 2
    methods = Counter(method for method, _ in writes(env))
    assert methods == {"PATCH": math.ceil(16 / 10), "DELETE": 1, "POST": 1}
    await assert_equal_sides(env)
    new_records = [
        r for r in env.fake.records(BASE, TABLE) if r["fields"].get("Order") == created["id"]
    ]
    assert sorted(r["fields"]["Quantity"] for r in new_records) == [3, 4.5]

    # No echo: the records the bridge wrote come back as modified, and change nothing.
    env.fake.reset_measurements(BASE)
    quiet = await env.sync()
    assert quiet["messages_written"] == 0
    assert quiet["records_created"] == quiet["records_updated"] == quiet["records_deleted"] == 0
    assert writes(env) == []


async def test_conflicts_follow_lww_and_end_equal_on_both_sides(env: Env) -> None:
    env.clock.t = wall_ms() - 10 * 60_000
    seed(env, orders=3, lines=2)
    await env.connect()
    await env.sync()
    records = env.fake.records(BASE, TABLE)
    links = {
        r["record_id"]: (r["po"], r["flow"])
        for r in await db_fetch(
            env.server.db_url,
            "SELECT record_id, pre_order_id::text AS po, flow_id::text AS flow "
            "FROM airtable_links WHERE tenant_id = $1",
            env.tenant.id,
        )
    }
    # A: a rep edits a quantity, then someone edits the same cell in Airtable, later.
    rec_a = records[0]["id"]
    po, flow = links[rec_a]
    await patch(env, f"/api/v1/preorders/{po}/flows/{flow}", {"quantity": 11})
    env.user_update(rec_a, {"Quantity": 22}, at=wall_ms() + 1_000)
    # B: the Airtable edit is older than the rep's edit of the same cell.
    rec_b = records[2]["id"]
    po_b, flow_b = links[rec_b]
    env.user_update(rec_b, {"Quantity": 33}, at=wall_ms() - 60_000)
    await patch(env, f"/api/v1/preorders/{po_b}/flows/{flow_b}", {"quantity": 44})

    run = await env.sync()
    assert run["status"] == "ok" and run["conflicts"] == 2
    quantities = {
        r["id"]: r["quantity"]
        for r in await db_fetch(
            env.server.db_url,
            "SELECT id::text, quantity FROM pre_order_flows WHERE tenant_id = $1",
            env.tenant.id,
        )
    }
    assert quantities[flow] == 22  # Airtable's later edit won ...
    assert quantities[flow_b] == 44  # ... and the rep's later edit won, and was written back
    cells = {r["id"]: r["fields"] for r in env.fake.records(BASE, TABLE)}
    assert cells[rec_a]["Quantity"] == 22 and cells[rec_b]["Quantity"] == 44
    await assert_equal_sides(env)
    # The rep who lost is told, like any conflict.
    conflicts = await db_fetch(
        env.server.db_url,
        "SELECT kind, row_id, loser_user::text, winner_user::text FROM conflicts "
        "WHERE tenant_id = $1 ORDER BY id",
        env.tenant.id,
    )
    by_row = {r["row_id"]: r for r in conflicts}
    assert by_row[flow]["kind"] == "overwrote"
    assert by_row[flow]["loser_user"] == env.tenant.user_id("alice")
    assert by_row[flow_b]["kind"] == "superseded"
    assert by_row[flow_b]["winner_user"] == env.tenant.user_id("alice")


async def test_rate_limit_is_shared_by_processes_and_tenants(
    env: Env, make_server: MakeServer, make_tenant: MakeTenant
) -> None:
    """Two server instances (own pools, own bridges) and two tenants on one base, run at
    once: together they never send Airtable more than 5 requests in any second."""
    other_table = "Orders B"
    env.fake.add_table(BASE, "tblOrdersB", other_table, order_line_fields())
    seed(env, orders=200, lines=4)
    seed(env, orders=200, lines=4, table=other_table)
    second = await make_server(
        airtable_api_url=env.fake.url, airtable_penalty_s=PENALTY_S, airtable_backoff_s=0.05
    )
    other = await make_tenant("Other Co")
    await env.connect()
    other_env = Env(env.fake, env.clock, second, other, env.http)
    await other_env.connect(table=other_table)
    env.fake.reset_measurements(BASE)
    a, b = await asyncio.gather(env.sync(), other_env.sync())
    assert a["status"] == b["status"] == "ok"
    assert a["records_read"] == b["records_read"] == 800
    assert env.fake.rate_limited(BASE) == 0
    assert env.fake.max_requests_in_window(BASE) <= 5
    assert len(env.fake.request_times(BASE)) == 16


async def test_429_penalty_and_5xx_are_waited_out(env: Env) -> None:
    seed(env, orders=30, lines=5)
    await env.connect()
    # Someone else exhausts the base's budget: Airtable answers 429 for the next second.
    async with aiohttp.ClientSession() as other:
        statuses = []
        for _ in range(7):
            async with other.get(
                f"{env.fake.url}/v0/{BASE}/{TABLE}?pageSize=1",
                headers={"Authorization": f"Bearer {KEY}"},
            ) as resp:
                statuses.append(resp.status)
    assert statuses[-1] == 429
    env.fake.reset_measurements(BASE)
    run = await env.sync()
    assert run["status"] == "ok" and run["records_read"] == 150
    assert run["rate_limited"] == 1
    log = env.fake.request_log(BASE)
    assert log[0][3] == 429 and all(status == 200 for *_, status in log[1:])
    assert log[1][0] - log[0][0] >= PENALTY_S * 0.9  # waited the penalty out, not hammering

    env.fake.fail_next(BASE, 2, 503)
    env.user_update(env.fake.records(BASE, TABLE)[0]["id"], {"Quantity": 7})
    run = await env.sync()
    assert run["status"] == "ok" and run["retried"] >= 2 and run["records_imported"] == 1
    await assert_equal_sides(env)


async def test_concurrent_triggers_share_one_run(env: Env, make_server: MakeServer) -> None:
    seed(env, orders=60, lines=5)
    await env.connect()
    second = await make_server(airtable_api_url=env.fake.url, airtable_penalty_s=PENALTY_S)
    env.fake.reset_measurements(BASE)
    results = await asyncio.gather(
        *[env.sync() for _ in range(5)], *[env.sync(second) for _ in range(3)]
    )
    assert len({r["run_id"] for r in results}) == 1
    runs = await db_fetch(
        env.server.db_url,
        "SELECT count(*) AS n FROM airtable_runs WHERE tenant_id = $1",
        env.tenant.id,
    )
    assert runs[0]["n"] == 1
    assert len(env.fake.request_times(BASE)) == 3  # one import: 300 records in 3 pages


async def test_errors_credentials_and_roles(env: Env, make_server: MakeServer) -> None:
    status, body = await env.call("POST", API + "/sync")
    assert status == 404 and body["code"] == "not_found"
    status, body = await env.call("PUT", API, {"base_id": BASE, "table": TABLE})
    assert status == 422 and "api_key" in body["message"]
    status, body = await env.call("PUT", API, {"base_id": "nope", "table": TABLE, "api_key": "k"})
    assert status == 422
    status, body = await env.call("GET", API, user="alice")
    assert status == 403

    await env.connect(key="patWRONG")
    status, body = await env.call("POST", API + "/sync")
    assert status == 502 and body["code"] == "airtable_auth_failed", body
    status, state = await env.call("GET", API)
    assert state["state"] == "error" and "API key" in state["last_error"]

    await env.connect(table="Nope", key=KEY)
    status, body = await env.call("POST", API + "/sync")
    assert status == 502 and body["code"] == "airtable_not_found", body

    await env.connect(key=KEY)
    seed(env, orders=1, lines=1)
    assert (await env.sync())["records_imported"] == 1
    status, state = await env.call("GET", API)
    assert state["state"] == "ok" and state["last_error"] is None
    assert state["last_run"]["records_read"] == 1 and state["has_api_key"] is True
    # The key is never returned, and is not stored in clear.
    assert KEY not in str(state)
    stored = await db_fetch(env.server.db_url, "SELECT api_key_enc FROM airtable_connectors")
    assert KEY not in stored[0]["api_key_enc"]
    # Reconfiguring without a key keeps the stored one.
    status, _ = await env.call("PUT", API, {"base_id": BASE, "table": TABLE, "schedule_s": 0})
    assert status == 200 and (await env.sync())["status"] == "ok"
    # Under another encryption key the credential is unreadable: a clear error, no crash.
    rotated = await make_server(
        airtable_api_url=env.fake.url, connector_key="Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE="
    )
    status, body = await env.call("POST", API + "/sync", server=rotated)
    assert status == 502 and body["code"] == "credentials_unreadable"


async def test_the_schedule_runs_due_connectors(env: Env, make_server: MakeServer) -> None:
    seed(env, orders=2, lines=2)
    scheduled = await make_server(airtable_api_url=env.fake.url, airtable_poll_s=0.2)
    await env.connect(schedule_s=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = await db_fetch(
            scheduled.db_url,
            "SELECT status FROM airtable_runs WHERE tenant_id = $1 AND trigger = 'schedule'",
            env.tenant.id,
        )
        if any(r["status"] == "ok" for r in rows):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("no scheduled run")
    await assert_equal_sides(env)


async def test_the_readme_demo_base_imports_with_the_default_field_map(
    make_server: MakeServer, make_tenant: MakeTenant, http: aiohttp.ClientSession
) -> None:
    from .fake_airtable import DEMO_BASE, seed_demo

    fake = FakeAirtable()
    seed_demo(fake)
    async with served(fake, make_server, make_tenant) as (server, tenant):
        demo = Env(fake, FakeClock(0), server, tenant, http)
        body = await connect_airtable(
            http,
            server,
            tenant.token("carla"),
            base_id=DEMO_BASE,
            table="Orders",
            api_key="patTEST",
        )
        assert body["field_map"]["modified"] == "Last modified"
        run = await demo.sync()
        assert (run["records_read"], run["records_imported"], run["problems"]) == (4, 4, [])
        rows = await db_fetch(
            server.db_url,
            "SELECT count(*) AS n FROM pre_orders WHERE tenant_id = $1",
            tenant.id,
        )
        assert rows[0]["n"] == 3
