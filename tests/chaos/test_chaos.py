"""Convergence under faults, with real processes (issues 7 and 20).

Two server processes on a PostgreSQL of the test's own (tests/postgres.py), behind a
fault-injecting proxy; N rep processes, each with a durable replica file, editing the same
pre-orders and fields, going offline for stretches, some with clocks hours off. During the
run, reps are killed and restarted (one deterministically right after writing an edit,
before syncing), a server is SIGKILLed and restarted, PostgreSQL crashes (an immediate
shutdown) under both servers and is started again, and then crashes again while the other
server is SIGKILLed, which is restarted before PostgreSQL is back (it waits for its
database). Meanwhile the servers answer 503 and the reps back off and retry; once
PostgreSQL is back every rep must sync again. Then the faults stop and every rep syncs:
every replica and the server must hold the same messages (same merkle root) and the same
state, and every edit any rep accepted must be in the server's log. A table of what
happened is printed.

Bounded by default ("quick", about half a minute); `RECAP_CHAOS_SCALE=5` multiplies reps'
operations, `RECAP_CHAOS_SEED` picks another run.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from recap_client import ClientReplica, SyncClient
from seed import create_tenant
from sync_server.services.accounts import open_session
from tests.chaos.proxy import ChaosProxy
from tests.postgres import Postgres, own_postgres

ROOT = Path(__file__).resolve().parents[2]
SCALE = int(os.environ.get("RECAP_CHAOS_SCALE", "1"))
SEED = int(os.environ.get("RECAP_CHAOS_SEED", "20261123"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, db_url: str, secret: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "RECAP_TOKEN_SECRET": secret,
            "RECAP_RATE_PER_S": "100000",
            "RECAP_RATE_BURST": "100000",
            "RECAP_LOG_REQUESTS": "false",
            "RECAP_DATA_DIR": str(log.parent),
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        """Start the process; it listens once its database answers (it waits with backoff)."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sync_server", "run", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def wait(self, path: str = "/healthz", seconds: float = 30) -> float:
        """Seconds until `path` answers 200."""
        begun = time.monotonic()
        async with aiohttp.ClientSession() as s:
            while time.monotonic() - begun < seconds:
                if self.proc is not None and self.proc.poll() is not None:
                    break
                try:
                    async with s.get(self.url + path) as r:
                        if r.status == 200:
                            return time.monotonic() - begun
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server did not answer {path}: {self.log.read_text()[-2000:]}")

    async def start(self) -> None:
        self.spawn()
        await self.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


class Rep:
    def __init__(
        self,
        i: int,
        tmp: Path,
        url: str,
        token: str,
        rows: Path,
        ops: int,
        skew_ms: int,
        die_after_edit: int,
        pace_s: float = 0.0,
        until: Path | None = None,
    ) -> None:
        self.i = i
        self.state = tmp / f"rep{i}.json"
        self.out = tmp / f"rep{i}.out"
        self.args = [
            sys.executable,
            "-m",
            "tests.chaos.rep",
            "--state",
            str(self.state),
            "--url",
            url,
            "--token",
            token,
            "--rows",
            str(rows),
            "--ops",
            str(ops),
            "--skew-ms",
            str(skew_ms),
            "--pace-s",
            str(pace_s),
            *(["--until", str(until)] if until else []),
        ]
        self.die_after_edit = die_after_edit
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [*self.args, "--seed", str(SEED + self.i * 1000 + self.starts)]
        if self.die_after_edit and self.starts == 0:
            args += ["--die-after-edit", str(self.die_after_edit)]
        self.starts += 1
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def lines(self) -> list[dict[str, Any]]:
        """The JSON lines of every run of this rep: sync outcomes, and counts at the end."""
        return [
            orjson.loads(line) for line in self.out.read_text().splitlines() if line.startswith("{")
        ]


@dataclass
class Outage:
    """One crash of PostgreSQL, as the test saw it (times are unix seconds)."""

    label: str
    crashed: float
    back: float  # PostgreSQL accepts connections again
    start_s: float  # its start (crash recovery from the WAL)
    ready_s: float  # from `back` until every server answers /readyz


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    with own_postgres() as pg:
        yield pg


async def test_convergence_under_faults(postgres: Postgres, tmp_path: Path) -> None:
    started = time.perf_counter()
    rng = random.Random(SEED)
    secret = secrets.token_urlsafe(24)
    db_url = await postgres.create_database("recap_chaos")
    conn = await asyncpg.connect(db_url)
    reps_n = 4
    tenant_id, users = await create_tenant(
        conn,
        "Chaos",
        [
            (f"rep{i}-{secrets.token_hex(2)}@chaos.example", f"Rep {i}", "pw", "rep")
            for i in range(reps_n + 1)
        ],
    )
    tokens = [await open_session(conn, secret, u.id, tenant_id, 3600) for u in users]
    await conn.close()

    servers = [Server(db_url, secret, tmp_path / f"server{i}.log") for i in range(2)]
    for s in servers:
        await s.start()
    proxy = ChaosProxy([s.url for s in servers], seed=SEED + 7)
    await proxy.start()
    faults = {"rep_killed": 0, "rep_killed_after_edit": 0, "server_sigkill": 0}
    outages: list[Outage] = []
    stop = tmp_path / "stop"  # the reps go on until it exists
    reps: list[Rep] = []

    async def postgres_crash(label: str, hold_s: float, restart: Server | None = None) -> None:
        """Crash PostgreSQL, keep it down `hold_s` (starting `restart` meanwhile: it must
        wait for its database), start it, and time until every server is ready."""
        crashed = time.time()
        await asyncio.to_thread(postgres.stop)  # the proxy and the loop go on meanwhile
        if restart is not None:
            restart.spawn()
        await asyncio.sleep(hold_s)
        await asyncio.to_thread(postgres.start)
        back = time.time()
        if restart is not None:
            await restart.wait("/healthz", 60)
        for s in servers:
            await s.wait("/readyz", 60)
        outages.append(Outage(label, crashed, back, postgres.start_seconds[-1], time.time() - back))

    async def schedule() -> None:
        """The process faults, while the reps run (the proxy's faults run throughout)."""
        await asyncio.sleep(3)
        servers[0].kill()
        faults["server_sigkill"] += 1
        await asyncio.sleep(0.5)
        await servers[0].start()
        await asyncio.sleep(2)
        await postgres_crash("both servers up", rng.uniform(1.5, 3))
        await asyncio.sleep(2)
        servers[1].kill()
        faults["server_sigkill"] += 1
        await postgres_crash("server 1 SIGKILLed", rng.uniform(1.5, 3), restart=servers[1])
        await asyncio.sleep(3)  # the reps sync again before they stop
        stop.touch()

    faulting: asyncio.Task[None] | None = None
    try:
        # Shared rows, created by one more rep directly on server 0.
        orders = [str(uuid.uuid4()) for _ in range(4)]
        flows = [str(uuid.uuid4()) for _ in range(8)]
        async with aiohttp.ClientSession() as session:
            maker = SyncClient(servers[0].url, ClientReplica(), session, tokens[reps_n])
            for o in orders:
                maker.replica.edit_row(
                    "pre_orders",
                    o,
                    {
                        "partner_id": str(uuid.uuid4()),
                        "delivery_date": "2026-12-01",
                        "status": "pending",
                        "tombstone": 0,
                    },
                )
            for f in flows:
                maker.replica.edit_row(
                    "pre_order_flows",
                    f,
                    {
                        "pre_order_id": rng.choice(orders),
                        "product_id": str(uuid.uuid4()),
                        "quantity": 1,
                        "weight": 1,
                        "tombstone": 0,
                    },
                )
            await maker.sync()
        rows = tmp_path / "rows.json"
        rows.write_bytes(orjson.dumps({"orders": orders, "flows": flows}))

        ops = 40 * SCALE
        skews = [0, 2 * 3600_000, -3 * 3600_000, 0]
        reps = [
            Rep(
                i,
                tmp_path,
                proxy.url,
                tokens[i],
                rows,
                ops,
                skews[i],
                die_after_edit=5 if i == 3 else 0,
                pace_s=0.1,
                until=stop,
            )
            for i in range(reps_n)
        ]
        for rep in reps:
            rep.start()
        faulting = asyncio.create_task(schedule())

        deadline = time.monotonic() + 120 * SCALE
        while (
            not faulting.done()
            or any(r.running() for r in reps)
            or any(r.starts < 2 for r in reps if r.i == 3)
        ):
            assert time.monotonic() < deadline, "reps did not finish in time"
            if faulting.done():
                faulting.result()  # a failed step fails the test now
            await asyncio.sleep(rng.uniform(0.2, 0.6))
            for rep in reps:
                if not rep.running():
                    code = rep.proc.returncode if rep.proc else None
                    if code == 137 and rep.starts == 1:
                        faults["rep_killed_after_edit"] += 1
                        rep.start()  # restarted: the written edit must still get through
            victim = rng.choice(reps)
            if victim.running() and not stop.exists() and rng.random() < 0.06:
                victim.kill()
                faults["rep_killed"] += 1
                victim.start()
        faulting.result()

        # Faults stop; everyone syncs until nothing changes.
        proxy.enabled = False
        converge_started = time.perf_counter()
        replicas = [ClientReplica.load(r.state) for r in reps]
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                for replica, token in zip(replicas, tokens, strict=False):
                    await SyncClient(proxy.url, replica, session, token).sync()
            observer = SyncClient(servers[1].url, ClientReplica(), session, tokens[reps_n])
            await observer.sync()
        converge_s = time.perf_counter() - converge_started

        conn = await asyncpg.connect(db_url)
        stored = {
            r["timestamp"]
            for r in await conn.fetch(
                "SELECT timestamp FROM messages WHERE tenant_id = $1", tenant_id
            )
        }
        root = await conn.fetchrow(
            "SELECT hash, count FROM merkle_nodes WHERE tenant_id = $1 AND path = ''", tenant_id
        )
        conflicts = await conn.fetchval(
            "SELECT count(*) FROM conflicts WHERE tenant_id = $1", tenant_id
        )
        await conn.close()
        assert root is not None
        server_root = (root["hash"], root["count"])

        accepted = {
            ts for replica in replicas for ts, m in replica.log.items() if m.node == replica.node
        }
        lost = accepted - stored
        lines = {r.i: r.lines() for r in reps}
        counts = [line for rep_lines in lines.values() for line in rep_lines if "edits" in line]
        syncs = {
            i: [(line["sync"], float(line["t"])) for line in rep_lines if "sync" in line]
            for i, rep_lines in lines.items()
        }
        unavailable = sum(o == "unavailable" for ss in syncs.values() for o, _ in ss)
        table: dict[str, object] = {
            "seed": SEED,
            "reps / servers": f"{reps_n} / {len(servers)}",
            "edits (reps that ran to the end)": sum(c["edits"] for c in counts),
            "accepted edits (on disk)": len(accepted),
            "syncs ok (as the reps saw them)": sum(
                o == "ok" for ss in syncs.values() for o, _ in ss
            ),
            "syncs failed: 503 unavailable": unavailable,
            "syncs failed: other (proxy, server down)": sum(
                o == "error" for ss in syncs.values() for o, _ in ss
            ),
            "conflicts recorded": conflicts,
            **{f"proxy {k}": v for k, v in sorted(proxy.counts.items())},
            **faults,
            "postgres crashes": postgres.crashes,
        }
        recovered: list[float] = []  # per crash, when the last rep synced again
        for n, outage in enumerate(outages, 1):
            firsts = [
                min((t for outcome, t in ss if outcome == "ok" and t >= outage.back), default=None)
                for ss in syncs.values()
            ]
            after = [t - outage.back for t in firsts if t is not None]
            seen = sum(
                outcome == "unavailable" and outage.crashed <= t <= outage.back + outage.ready_s
                for ss in syncs.values()
                for outcome, t in ss
            )
            # a rep that never synced again counts as never recovered
            recovered.append(float("inf") if None in firsts else max(after))
            table[f"pg crash {n} ({outage.label})"] = (
                f"down {outage.back - outage.crashed:.1f} s (start {outage.start_s:.2f} s), "
                f"{seen} x 503 to reps, servers ready {outage.ready_s:.2f} s after, "
                f"reps syncing again {min(after, default=-1):.2f}..{recovered[-1]:.2f} s after"
            )
        table |= {
            "lost edits": len(lost),
            "seconds to converge after faults": round(converge_s, 2),
            "total seconds": round(time.perf_counter() - started, 1),
        }
        print("\nchaos run:")
        for key, value in table.items():
            print(f"  {key:<40} {value}")

        assert not lost, f"{len(lost)} accepted edits never reached the server"
        assert faults["rep_killed_after_edit"] == 1
        assert proxy.counts["dropped"] + proxy.counts["cut"] > 0
        assert postgres.crashes == 2 and len(outages) == 2
        assert unavailable > 0 and proxy.counts["upstream_503"] > 0
        # every rep synced again after each crash, without any help
        assert all(r < 30 for r in recovered), recovered
        for replica in replicas:
            assert set(replica.log) >= accepted & {
                ts for ts, m in replica.log.items() if m.node == replica.node
            }
            assert replica.trie.get("") == server_root
            assert replica.state() == observer.replica.state()
        assert observer.replica.trie.get("") == server_root
        assert len(stored) == server_root[1]
        for s in servers:
            text = s.log.read_text()
            assert "unhandled error" not in text, text[-3000:]
    finally:
        if faulting is not None and not faulting.done():
            faulting.cancel()
        for rep in reps:
            rep.kill()
        await proxy.stop()
        for s in servers:
            s.kill()
