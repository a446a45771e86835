"""Sustained load (issue 7): many reps syncing at a steady rate for a bounded time against
a real server process. No errors; latency stable from one wall-clock minute to the next;
server memory flat after warm-up; PostgreSQL connections bounded by the pool.

Latency is compared per whole minute because within a minute it saw-tooths: the minute is
the trie's finest node, so a sync re-reads the current minute's messages, which grow until
the minute turns (DESIGN.md, "Known limits"). A leak grows across minutes; that is what
this test catches. `RECAP_SOAK_SECONDS` (default 185) and `RECAP_SOAK_RATE` (default 10
syncs/s) scale it up for a report."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

from recap_client import ClientReplica, SyncClient
from seed import create_tenant
from sync_server.services.accounts import open_session
from tests.chaos.test_chaos import Server

SECONDS = float(os.environ.get("RECAP_SOAK_SECONDS", "185"))
RATE = float(os.environ.get("RECAP_SOAK_RATE", "10"))
REPS = 100


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


async def test_soak_is_stable(db_url: str, tmp_path: Path) -> None:
    secret = secrets.token_urlsafe(24)
    conn = await asyncpg.connect(db_url)
    tenant_id, users = await create_tenant(
        conn,
        "Soak",
        [
            (f"soak{i}-{secrets.token_hex(2)}@soak.example", f"S{i}", "pw", "rep")
            for i in range(REPS)
        ],
    )
    tokens = [await open_session(conn, secret, u.id, tenant_id, 3600) for u in users]
    server = Server(db_url, secret, tmp_path / "server.log")
    await server.start()
    assert server.proc is not None
    rng = random.Random(3)
    flows = [str(uuid.uuid4()) for _ in range(40)]
    by_minute: dict[int, list[float]] = {}
    rss: list[float] = []
    connections: list[int] = []
    errors = 0
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            clients = [
                SyncClient(
                    server.url,
                    ClientReplica(),
                    session,
                    token,
                )
                for token in tokens
            ]
            for c in clients:
                await c.sync()
            busy: set[int] = set()
            tasks: list[asyncio.Task[None]] = []

            async def one(i: int) -> None:
                nonlocal errors
                c = clients[i]
                c.replica.edit_field(
                    "pre_order_flows", rng.choice(flows), "quantity", rng.randrange(100)
                )
                t = time.perf_counter()
                minute = int(time.time() // 60)
                try:
                    await c.sync()
                    by_minute.setdefault(minute, []).append((time.perf_counter() - t) * 1000)
                except Exception:
                    errors += 1
                finally:
                    busy.discard(i)

            started = time.perf_counter()
            k = 0
            next_sample = 0.0
            while (elapsed := time.perf_counter() - started) < SECONDS:
                while k < int(elapsed * RATE):
                    i = k % REPS
                    k += 1
                    if i not in busy:
                        busy.add(i)
                        tasks.append(asyncio.create_task(one(i)))
                if elapsed >= next_sample:
                    rss.append(rss_mb(server.proc.pid))
                    connections.append(
                        await conn.fetchval(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database()"
                        )
                    )
                    next_sample += SECONDS / 20
                await asyncio.sleep(0.005)
            await asyncio.gather(*tasks)
    finally:
        server.kill()
        await conn.close()

    # Whole minutes only: the first and last are partial.
    minutes = [by_minute[m] for m in sorted(by_minute)][1:-1]
    assert len(minutes) >= 2, "run at least two whole minutes (RECAP_SOAK_SECONDS >= 180)"
    p99s = [round(p99(w), 1) for w in minutes]
    medians = [round(sorted(w)[len(w) // 2], 1) for w in minutes]
    print(
        f"\nsoak: {SECONDS:.0f} s at {RATE:.0f} syncs/s, {REPS} reps: "
        f"{sum(len(w) for w in by_minute.values())} syncs, errors {errors}, median per whole "
        f"minute {medians} ms, p99 per whole minute {p99s} ms, "
        f"server RSS {rss[0]:.0f} -> {rss[-1]:.0f} MB (max {max(rss):.0f}), "
        f"PostgreSQL connections max {max(connections)}"
    )
    assert errors == 0
    # Medians, not p99s: on a shared two-core machine single spikes are noise, a trend is not.
    assert medians[-1] <= 2 * medians[0] + 25, "latency grew from minute to minute"
    warm = rss[len(rss) // 3]
    assert rss[-1] - warm < 60, "server memory kept growing after warm-up"
    # The server's pool (10) + its LISTEN connection + this test's connection.
    assert max(connections) <= 13
