"""Convergence under faults, with real processes (issue 7).

Two server processes on one PostgreSQL behind a fault-injecting proxy; N rep processes,
each with a durable replica file, editing the same pre-orders and fields, going offline for
stretches, some with clocks hours off. During the run, reps are killed and restarted (one
deterministically right after writing an edit, before syncing), and a server is SIGKILLed
and restarted. Then the faults stop and every rep syncs: every replica and the server must
hold the same messages (same merkle root) and the same state, and every edit any rep
accepted must be in the server's log. A table of what happened is printed.

Bounded by default ("quick"); `RECAP_CHAOS_SCALE=5` multiplies reps' operations.
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
from pathlib import Path

import aiohttp
import asyncpg
import orjson

from recap_client import ClientReplica, SyncClient
from seed import create_tenant
from sync_server.services.accounts import open_session
from tests.chaos.proxy import ChaosProxy

ROOT = Path(__file__).resolve().parents[2]
SCALE = int(os.environ.get("RECAP_CHAOS_SCALE", "1"))


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

    async def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sync_server", "run", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        async with aiohttp.ClientSession() as s:
            for _ in range(300):
                try:
                    async with s.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

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
        ]
        self.die_after_edit = die_after_edit
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [*self.args, "--seed", str(self.i * 1000 + self.starts)]
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


async def test_convergence_under_faults(db_url: str, tmp_path: Path) -> None:
    started = time.perf_counter()
    rng = random.Random(20261123)
    secret = secrets.token_urlsafe(24)
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
    proxy = ChaosProxy([s.url for s in servers], seed=7)
    await proxy.start()
    faults = {"rep_killed": 0, "rep_killed_after_edit": 0, "server_sigkill": 0}
    reps: list[Rep] = []
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
            )
            for i in range(reps_n)
        ]
        for rep in reps:
            rep.start()

        deadline = time.monotonic() + 120 * SCALE
        server_killed = False
        while any(r.running() for r in reps) or any(r.starts < 2 for r in reps if r.i == 3):
            assert time.monotonic() < deadline, "reps did not finish in time"
            await asyncio.sleep(rng.uniform(0.2, 0.6))
            for rep in reps:
                if not rep.running():
                    code = rep.proc.returncode if rep.proc else None
                    if code == 137 and rep.starts == 1:
                        faults["rep_killed_after_edit"] += 1
                        rep.start()  # restarted: the written edit must still get through
            victim = rng.choice(reps)
            if victim.running() and rng.random() < 0.25:
                victim.kill()
                faults["rep_killed"] += 1
                victim.start()
            if not server_killed and time.perf_counter() - started > 4:
                servers[0].kill()
                faults["server_sigkill"] += 1
                await asyncio.sleep(0.5)
                await servers[0].start()
                server_killed = True

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
        counts = [
            orjson.loads(line)
            for r in reps
            for line in r.out.read_text().splitlines()
            if line.startswith("{")
        ]
        table = {
            "reps": reps_n,
            "edits (reps that ran to the end)": sum(c["edits"] for c in counts),
            "accepted edits (on disk)": len(accepted),
            "syncs ok": sum(c["syncs"] for c in counts),
            "sync errors seen by reps": sum(c["sync_errors"] for c in counts),
            "conflicts recorded": conflicts,
            **{f"proxy {k}": v for k, v in sorted(proxy.counts.items())},
            **faults,
            "lost edits": len(lost),
            "seconds to converge after faults": round(converge_s, 2),
            "total seconds": round(time.perf_counter() - started, 1),
        }
        print("\nchaos run:")
        for key, value in table.items():
            print(f"  {key:<36} {value}")

        assert not lost, f"{len(lost)} accepted edits never reached the server"
        assert faults["rep_killed_after_edit"] == 1
        assert proxy.counts["dropped"] + proxy.counts["cut"] > 0
        for replica in replicas:
            assert set(replica.log) >= accepted & {
                ts for ts, m in replica.log.items() if m.node == replica.node
            }
            assert replica.trie.get("") == server_root
            assert replica.state() == observer.replica.state()
        assert observer.replica.trie.get("") == server_root
        assert len(stored) == server_root[1]
    finally:
        for rep in reps:
            rep.kill()
        await proxy.stop()
        for s in servers:
            s.kill()
