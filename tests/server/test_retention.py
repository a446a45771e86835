"""The retention job deletes what has aged out, and nothing else: old published events (not
unpublished ones, not recent ones), expired idempotency keys, old failed sign-ins, long-over
sessions and links; never a message. One process prunes at a time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from sync_server.database import _init_connection
from sync_server.keys import RELAY, RETENTION
from sync_server.storage import retention
from tests.conftest import MakeServer, MakeTenant, Running
from tests.server.test_rest import API, api


@pytest.fixture
async def pg(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_url)
    await _init_connection(conn)
    yield conn
    await conn.close()


async def count(pg: asyncpg.Connection, sql: str, *args: object) -> int:
    return int(await pg.fetchval(sql, *args))


async def test_the_job_prunes_what_aged_out_and_keeps_the_rest(
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
    server: Running,
) -> None:
    # The default server (make_tenant signs in through it) shares the database: its relay
    # would publish the events below (setting published_at, after this test aged it, on a
    # loaded machine) and its retention job prunes once when it starts. Both stop here.
    await server.app[RETENTION].stop()
    await server.app[RELAY].stop()
    server = await make_server(
        relay_enabled=False, retention_interval_s=0, outbox_retention_days=30
    )
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    for i in range(6):
        await carla.new_order(partner, key=f"key-{i}")
    messages_before = await count(pg, "SELECT count(*) FROM messages WHERE tenant_id = $1", t.id)
    events = [
        r["id"]
        for r in await pg.fetch("SELECT id FROM outbox WHERE tenant_id = $1 ORDER BY id", t.id)
    ]
    assert len(events) == 6  # one per pre-order (catalog writes are not events)
    old_published, old_unpublished, recent_published = events[:3], events[3:5], events[5:]
    await pg.execute(
        "UPDATE outbox SET created_at = now() - interval '40 days', "
        "published_at = now() - interval '31 days' WHERE id = ANY($1::bigint[])",
        old_published,
    )
    await pg.execute(
        "UPDATE outbox SET created_at = now() - interval '40 days' WHERE id = ANY($1::bigint[])",
        old_unpublished,
    )
    await pg.execute(
        "UPDATE outbox SET published_at = now() - interval '29 days' WHERE id = ANY($1::bigint[])",
        recent_published,
    )
    # Two of the six idempotency keys are past their life (24 h, plus a day of grace).
    await pg.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '3 days' "
        "WHERE tenant_id = $1 AND key = ANY($2::text[])",
        t.id,
        ["key-0", "key-1"],
    )
    await pg.execute(
        "INSERT INTO login_failures (key, at) VALUES ($1, now() - interval '2 days'), "
        "($1, now() - interval '2 days'), ($1, now())",
        f"account:{t.id}@example.com",
    )
    user = t.user_id("alice")
    old_session, live_session = str(uuid.uuid4()), str(uuid.uuid4())
    await pg.execute(
        "INSERT INTO sessions (id, tenant_id, user_id, expires_at, ended_at) VALUES "
        "($1, $3, $4, now() - interval '40 days', now() - interval '31 days'), "
        "($2, $3, $4, now() + interval '1 day', NULL)",
        old_session,
        live_session,
        t.id,
        user,
    )

    job = server.server.app[RETENTION]
    job.batch = 2  # several batches per table
    deleted = await job.run_once()
    assert deleted is not None
    assert deleted["outbox"] == 3 and deleted["idempotency_keys"] == 2
    assert deleted["login_failures"] >= 2 and deleted["sessions"] >= 1
    left = {r["id"] for r in await pg.fetch("SELECT id FROM outbox WHERE tenant_id = $1", t.id)}
    assert left == set(old_unpublished + recent_published)
    keys = {
        r["key"]
        for r in await pg.fetch("SELECT key FROM idempotency_keys WHERE tenant_id = $1", t.id)
    }
    assert keys == {f"key-{i}" for i in range(2, 6)}
    failures = await count(
        pg, "SELECT count(*) FROM login_failures WHERE key = $1", f"account:{t.id}@example.com"
    )
    assert failures == 1
    sessions = {
        r["id"] for r in await pg.fetch("SELECT id::text FROM sessions WHERE user_id = $1", user)
    }
    assert old_session not in sessions and live_session in sessions
    after = await count(pg, "SELECT count(*) FROM messages WHERE tenant_id = $1", t.id)
    assert after == messages_before  # the log is never pruned
    # The events feed still serves what is kept.
    feed = await carla.get(f"{API}/events?after=0&limit=100")
    assert {e["id"] for e in feed.body["items"]} == left
    # A second pass has nothing left to do.
    again = await job.run_once()
    assert again is not None and again["outbox"] == 0 and again["idempotency_keys"] == 0


async def test_one_process_prunes_at_a_time(
    make_server: MakeServer, pg: asyncpg.Connection
) -> None:
    server = await make_server(relay_enabled=False, retention_interval_s=0)
    job = server.server.app[RETENTION]
    assert await retention.try_lock(pg)  # another process is pruning
    try:
        assert await job.run_once() is None
    finally:
        await retention.unlock(pg)
    assert await job.run_once() is not None


async def test_the_job_runs_on_its_own(
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,
) -> None:
    t = await make_tenant()
    await pg.execute(
        "INSERT INTO login_failures (key, at) VALUES ($1, now() - interval '2 days')",
        f"address:{t.id}",
    )
    await make_server(retention_interval_s=0.1)
    for _ in range(100):
        if (
            await count(pg, "SELECT count(*) FROM login_failures WHERE key = $1", f"address:{t.id}")
            == 0
        ):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the job did not prune within 5 s")
