"""Workload 8 (issue 20, "REST reads at scale"): 250 concurrent users paging
`GET /api/v1/preorders?limit=50` on a tenant of 5,000 pre-orders with 1-5 flows each.

    python -m bench.rest_reads [--quick] [--workers 2] [--generators 1]

The server runs as a real process (`python -m sync_server run --workers N`, SO_REUSEPORT)
on the bench database; the users run in separate load-generator processes. Each user has
a session of its own (25 users x 10 sessions: 250 distinct tokens) and one keep-alive
connection, and asks, back to back, for the first page four times and the second page
(the first page's `next_cursor`) once. Two runs:

* closed loop: every user sends its next request as soon as the last one is answered, so
  the rate is what the server sustains and the latency is what 250 waiting users see;
* paced: 1,500 requests/s offered (each user 6/s, on a schedule), latency counted from
  the scheduled time (so a late send counts as waiting, not as a lighter load).

Figures: requests/s, p50 and p99, and database transactions per request (the delta of
`pg_stat_database.xact_commit + xact_rollback` for the bench database over the run, read
after the backends flushed their counters; every statement outside an explicit transaction
is one transaction, so for this read path it is the number of statements). The relay is
off in the server processes so that nothing else commits meanwhile.

The load generator speaks HTTP/1.1 over asyncio streams itself (a request is one write, an
answer is read by its Content-Length): aiohttp's client costs several times more CPU per
request, and on a 2-core machine the generator shares the cores with the server and
PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import multiprocessing
import os
import random
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from crdt.message import Scalar

from .harness import Harness, Process, free_port, percentile, process_cpu_seconds
from .table import Row

USERS = 25
SESSIONS_PER_USER = 10  # 250 distinct tokens, one connection each
ORDERS = 5_000
PARTNERS = 200
PRODUCTS = 500
LIMIT = 50
PAGE2_EVERY = 5  # every 5th request asks for page 2
PACED_RATE = 1_500.0
PATH = f"/api/v1/preorders?limit={LIMIT}"


# -- the tenant ----------------------------------------------------------------------------
def tenant_messages(rng: random.Random) -> list[Any]:
    """Partners, products, and ORDERS pre-orders created over the last 90 days, each with
    1-5 flows (some without a weight), through the product's own message shapes."""
    from seed import Stamper

    s = Stamper()
    partners = [str(uuid.uuid4()) for _ in range(PARTNERS)]
    products = [str(uuid.uuid4()) for _ in range(PRODUCTS)]
    for i, pid in enumerate(partners):
        s.row("partners", pid, {"name": f"Partner {i}", "short_name": f"P{i}", "tombstone": 0})
    for i, pid in enumerate(products):
        s.row(
            "products",
            pid,
            {"name": f"Product {i}", "sku": f"SKU-{i:04d}", "unit_weight": 1.5, "tombstone": 0},
        )
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    for _ in range(ORDERS):
        oid = str(uuid.uuid4())
        created = now - datetime.timedelta(seconds=rng.randrange(90 * 86_400))
        delivery = created.date() + datetime.timedelta(days=rng.randrange(1, 14))
        s.row(
            "pre_orders",
            oid,
            {
                "partner_id": rng.choice(partners),
                "delivery_date": delivery.isoformat(),
                "status": rng.choice(["pending", "confirmed"]),
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tombstone": 0,
            },
        )
        for _ in range(rng.randint(1, 5)):
            flow: dict[str, Scalar] = {
                "pre_order_id": oid,
                "product_id": rng.choice(products),
                "quantity": rng.choice([rng.randrange(1, 200), rng.randrange(1, 2000) / 4]),
                "tombstone": 0,
            }
            if rng.random() < 0.8:
                flow["weight"] = rng.randrange(1, 5000) / 10
            s.row("pre_order_flows", str(uuid.uuid4()), flow)
    return s.messages


async def seed_tenant(h: Harness) -> tuple[str, list[str]]:
    """The tenant and 250 tokens (USERS users, SESSIONS_PER_USER sessions each)."""
    from seed import create_tenant
    from sync_server.services.accounts import open_session

    assert h.conn is not None
    tenant, users = await create_tenant(
        h.conn,
        "rest-reads",
        [
            (f"u{i}-{uuid.uuid4().hex[:6]}@bench.example", f"U{i}", "pw", "rep")
            for i in range(USERS)
        ],
    )
    tokens = [
        await open_session(h.conn, h.secret, u.id, tenant, 86_400)
        for u in users
        for _ in range(SESSIONS_PER_USER)
    ]
    messages = tenant_messages(random.Random(20))
    seconds = await h.seed(tenant, messages)
    await h.conn.execute("ANALYZE")
    print(
        f"  seeded {ORDERS:,} pre-orders ({len(messages):,} messages) in {seconds:.1f} s",
        flush=True,
    )
    return tenant, tokens


# -- the load generator (its own process) ---------------------------------------------------
class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.bytes = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, tally: Tally
) -> None:
    """One request on a keep-alive connection; its answer read whole."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12]
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        raise RuntimeError("an answer without Content-Length")
    size = int(head[at + 17 : head.index(b"\r\n", at + 2)])
    await reader.readexactly(size)
    tally.bytes += size
    if status != b"200":
        tally.error(status.decode())


async def _user(
    host: str,
    port: int,
    requests: list[bytes],
    start: float,
    stop: float,
    interval: float | None,
    tally: Tally,
    offset: int,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    k = offset
    due = start + (random.random() * interval if interval else 0.0)
    try:
        while True:
            if interval is not None:
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                began = due
                due += interval
            else:
                began = time.perf_counter()
            if began >= stop:
                return
            try:
                await _exchange(reader, writer, requests[k % len(requests)], tally)
            except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
                tally.error(type(exc).__name__)
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            finally:
                k += 1
            if began >= start:
                tally.latencies.append((time.perf_counter() - began) * 1000)
    finally:
        writer.close()


def _generator(pipe: Connection, host: str, port: int, tokens: list[str], cursor: str) -> None:
    asyncio.run(_generate(pipe, host, port, tokens, cursor))


async def _generate(pipe: Connection, host: str, port: int, tokens: list[str], cursor: str) -> None:
    loop = asyncio.get_running_loop()
    page2 = f"{PATH}&cursor={cursor}"

    def requests(token: str) -> list[bytes]:
        paths = [PATH] * (PAGE2_EVERY - 1) + [page2]
        head = f"HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
        return [f"GET {p} {head}".encode() for p in paths]

    pipe.send("ready")
    while (job := await loop.run_in_executor(None, pipe.recv)) is not None:
        warmup, duration, rate = job
        tally = Tally()
        start = time.perf_counter() + warmup
        stop = start + duration
        interval = len(tokens) / rate if rate else None
        cpu = time.process_time()
        await asyncio.gather(
            *(
                _user(host, port, requests(t), start, stop, interval, tally, i)
                for i, t in enumerate(tokens)
            )
        )
        pipe.send(
            {
                "latencies": tally.latencies,
                "errors": tally.errors,
                "bytes": tally.bytes,
                "cpu": time.process_time() - cpu,
                "wall": time.perf_counter() - start,
            }
        )


# -- measuring -------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """A process and every process under it (the workers of `--workers N`)."""
    out = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in children:
        out += descendants(int(child))
    return out


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far (/proc/stat), to tell how
    much of it went to something other than this benchmark (the machine may be shared)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    return sum(process_cpu_seconds(p) for p in descendants(pid))


async def database_stats(admin: asyncpg.Connection, db_name: str) -> tuple[int, float | None]:
    """Transactions committed or rolled back in the bench database so far (as flushed), and
    the CPU seconds of the backends connected to it (None when PostgreSQL is not on this
    machine). Read over a connection to another database, so that reading them adds no
    transaction and no backend to the bench database's figures."""
    row = await admin.fetchrow(
        """SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database
                   WHERE datname = $1) AS xacts,
                  array(SELECT pid FROM pg_stat_activity WHERE datname = $1) AS pids,
                  pg_backend_pid() AS own""",
        db_name,
    )
    assert row is not None
    try:
        local = b"postgres" in Path(f"/proc/{row['own']}/cmdline").read_bytes()
    except OSError:
        local = False
    cpu = sum(process_cpu_seconds(p) for p in row["pids"]) if local else None
    return int(row["xacts"]), cpu


async def settle(admin: asyncpg.Connection, db_name: str) -> int:
    """The bench database's transaction count once every backend has flushed its
    statistics. An idle backend flushes at once only if its last flush is a second old;
    otherwise 10 s later (PostgreSQL 15's PGSTAT_IDLE_INTERVAL): so wait 11 s, then until
    the count holds still for two seconds."""
    await asyncio.sleep(11.0)
    last = (await database_stats(admin, db_name))[0]
    for _ in range(10):
        await asyncio.sleep(2.0)
        now = (await database_stats(admin, db_name))[0]
        if now == last:
            break
        last = now
    return last


async def run_load(
    h: Harness,
    admin: asyncpg.Connection,
    server: Process,
    pipes: list[Connection],
    warmup: float,
    duration: float,
    rate: float | None,
) -> dict[str, Any]:
    """One run: every generator's users for `warmup` + `duration` seconds."""
    for pipe in pipes:
        pipe.send((0.0, warmup, None))  # warm every connection and prepared statement
    await asyncio.gather(*(asyncio.to_thread(pipe.recv) for pipe in pipes))
    xacts = await settle(admin, h.db_name)
    _, cpu_db = await database_stats(admin, h.db_name)
    cpu_server = tree_cpu_seconds(server.proc.pid)
    busy = machine_busy_seconds()
    share = rate / len(pipes) if rate else None
    for pipe in pipes:
        pipe.send((0.0, duration, share))
    parts = await asyncio.gather(*(asyncio.to_thread(pipe.recv) for pipe in pipes))
    wall = max(p["wall"] for p in parts)
    busy = machine_busy_seconds() - busy
    cpu_server = tree_cpu_seconds(server.proc.pid) - cpu_server
    _, db_now = await database_stats(admin, h.db_name)
    xacts = await settle(admin, h.db_name) - xacts
    latencies = [x for p in parts for x in p["latencies"]]
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
    done = len(latencies)
    cpu_generators = sum(p["cpu"] for p in parts)
    ours = (
        cpu_server + cpu_generators + (0.0 if db_now is None or cpu_db is None else db_now - cpu_db)
    )
    return {
        "rate": done / wall,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "requests": done,
        "errors": errors,
        "xacts_per_request": xacts / max(1, done),
        "kb_per_answer": sum(p["bytes"] for p in parts) / max(1, done) / 1024,
        "server_cpu": cpu_server / wall,
        "db_cpu": None if db_now is None or cpu_db is None else (db_now - cpu_db) / wall,
        "generator_cpu": cpu_generators / wall,
        "other_cpu": max(0.0, busy - ours) / wall,
    }


def describe(r: dict[str, Any]) -> str:
    db = "n/a" if r["db_cpu"] is None else f"{100 * r['db_cpu']:.0f}%"
    return (
        f"{r['rate']:,.0f} req/s, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
        f"{r['xacts_per_request']:.2f} DB transactions/request, errors {r['errors'] or 0}, "
        f"{r['kb_per_answer']:.1f} KB/answer; CPU: server {100 * r['server_cpu']:.0f}%, "
        f"PostgreSQL {db}, load generators {100 * r['generator_cpu']:.0f}%, "
        f"anything else on the machine {100 * r['other_cpu']:.0f}% (of {os.cpu_count()} CPUs)"
    )


async def rest_reads(
    h: Harness, quick: bool, workers: int = 2, generators: int = 1, page_cache: int | None = None
) -> list[Row]:
    _tenant, tokens = await seed_tenant(h)
    port = free_port()
    env = {
        "DATABASE_URL": h.db_url,
        "RECAP_TOKEN_SECRET": h.secret,
        "RECAP_RATE_PER_S": "1000000000",
        "RECAP_RATE_BURST": "1000000000",
        "RECAP_LOG_REQUESTS": "false",
        "RECAP_RELAY_ENABLED": "false",
        "RECAP_POOL_MAX": "20",
        "RECAP_WORKERS": str(workers),
        "RECAP_DATA_DIR": tempfile.mkdtemp(prefix="recap-bench-data-"),
    }
    if page_cache is not None:  # the server's list pages kept in memory (0: none)
        env["RECAP_PAGE_CACHE_BYTES"] = str(page_cache)
    server = Process(["-m", "sync_server", "run", "--port", str(port)], env, port)
    admin = await asyncpg.connect(h.admin_url)
    try:
        await server.wait_ready("/healthz")
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {tokens[0]}"}
            async with session.get(server.url + PATH, headers=headers) as resp:
                first = await resp.json()
                assert resp.status == 200, first
        assert len(first["items"]) == LIMIT and first["next_cursor"], first
        cursor = first["next_cursor"]

        context = multiprocessing.get_context("spawn")
        pipes: list[Connection] = []
        processes = []
        for g in range(generators):
            parent, child = context.Pipe()
            process = context.Process(
                target=_generator,
                args=(child, "127.0.0.1", port, tokens[g::generators], cursor),
                daemon=True,
            )
            process.start()
            pipes.append(parent)
            processes.append(process)
        try:
            for pipe in pipes:
                assert await asyncio.to_thread(pipe.recv) == "ready"
            duration = 5.0 if quick else 15.0
            closed = await run_load(h, admin, server, pipes, 2.0, duration, None)
            print(f"  closed loop, {len(tokens)} users: {describe(closed)}", flush=True)
            paced = await run_load(h, admin, server, pipes, 2.0, duration, PACED_RATE)
            print(f"  paced at {PACED_RATE:,.0f}/s: {describe(paced)}", flush=True)
        finally:
            for pipe in pipes:
                pipe.send(None)
            for process in processes:
                await asyncio.to_thread(process.join, 30)
                if process.is_alive():
                    process.kill()
    finally:
        server.stop()
        await admin.close()
    setup = f"{len(tokens)} users, {workers} server processes, {generators} load generator(s)"
    return [
        Row(
            "8 REST reads",
            f"GET /preorders?limit={LIMIT} req/s, {len(tokens)} users, closed loop",
            closed["rate"],
            None,
            "req/s",
            "higher",
            f"p50 {closed['p50']:.1f} ms, p99 {closed['p99']:.1f} ms; target 1,500 req/s "
            f"with p99 <= 200 ms; {setup}; {describe(closed)}",
        ),
        Row(
            "8 REST reads",
            f"p99 at {PACED_RATE:,.0f} req/s offered",
            paced["p99"],
            None,
            "ms",
            "lower",
            f"achieved {paced['rate']:,.0f} req/s; {describe(paced)}",
        ),
        Row(
            "8 REST reads",
            "DB transactions per list request",
            closed["xacts_per_request"],
            None,
            "",
            "lower",
            "pg_stat_database delta over the closed-loop run; target 1",
        ),
    ]


def run(quick: bool) -> list[Row]:
    return asyncio.run(_run(quick))


async def _run(
    quick: bool, workers: int = 2, generators: int = 1, page_cache: int | None = None
) -> list[Row]:
    async with Harness(servers=False) as h:
        print("workload 8: REST reads", flush=True)
        return await rest_reads(h, quick, workers, generators, page_cache)


def main() -> None:
    from .table import render

    parser = argparse.ArgumentParser(prog="python -m bench.rest_reads")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--generators", type=int, default=1)
    parser.add_argument(
        "--page-cache-bytes", type=int, default=None, help="the server's page cache (0: off)"
    )
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    rows = asyncio.run(_run(args.quick, args.workers, args.generators, args.page_cache_bytes))
    print(render(rows))


if __name__ == "__main__":
    main()
