"""Real server processes (`python -m sync_server run`) on one database: live updates cross
from one process to another through PostgreSQL, and a process SIGKILLed in the middle of a
large batch leaves every batch either whole or absent, never half."""

from __future__ import annotations

import asyncio
import io
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from crdt.hlc import Clock, send
from crdt.merkle import FlatTrie
from crdt.message import Message, Scalar
from crdt.schema import DATASETS
from recap_client import ClientReplica
from sync_server.settings import PROJECT_ROOT
from sync_server.storage.common import scalar_from_db
from tests.conftest import TEST_SECRET, MakeTenant, live_url

STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def new_row() -> str:
    return str(uuid.uuid4())


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)


Spawn = Callable[..., Awaitable[Proc]]


@pytest.fixture
async def spawn(db_url: str, tmp_path: Path) -> AsyncIterator[Spawn]:
    """Start server processes on the test database; every one is killed at teardown."""
    started: list[Proc] = []
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "RECAP_TOKEN_SECRET": TEST_SECRET,
        "RECAP_DATA_DIR": str(tmp_path),
        "RECAP_HOST": "127.0.0.1",
    }

    async def start(*extra: str) -> Proc:
        port = free_port()
        log = tmp_path / f"server-{len(started)}-{port}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "sync_server", "run", "--port", str(port), *extra],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        proc = Proc(popen, port, log)
        started.append(proc)
        await wait_healthy(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.kill()


async def wait_healthy(proc: Proc) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                pytest.fail(
                    f"server exited {proc.popen.returncode}: {proc.log.read_text()[-3000:]}"
                )
            try:
                async with http.get(proc.url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    pytest.fail(f"server not healthy in {STARTUP_TIMEOUT_S} s: {proc.log.read_text()[-3000:]}")


async def push(http: aiohttp.ClientSession, url: str, token: str, payload: bytes) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # A stream, so a large body does not block the loop (and aiohttp does not warn).
    async with http.post(url + "/sync", data=io.BytesIO(payload), headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return body


async def next_of_type(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float) -> Any:
    """The next notice of this type, skipping others (the relay's business events)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {kind!r} notice within {timeout} s")
        msg = await ws.receive_json(timeout=left)
        if msg.get("type") == kind:
            return msg


async def test_live_updates_cross_processes_and_stay_in_the_tenant(
    spawn: Spawn, make_tenant: MakeTenant, http: aiohttp.ClientSession, db_url: str
) -> None:
    one, two = await asyncio.gather(spawn(), spawn())
    a, b = await make_tenant("Acme"), await make_tenant("Globex")
    async with (
        http.ws_connect(await live_url(http, two.url, a.token("bob"))) as a_on_two,
        http.ws_connect(await live_url(http, two.url, b.token("bob"))) as b_on_two,
        http.ws_connect(await live_url(http, one.url, a.token("carla"))) as a_on_one,
    ):
        for ws in (a_on_two, b_on_two, a_on_one):
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
        for round_ in range(3):
            writer = ClientReplica()
            msgs = [
                writer.edit_field("pre_order_flows", new_row(), "quantity", i) for i in range(3)
            ]
            payload = orjson.dumps({"node": writer.node, "messages": [m.to_json() for m in msgs]})
            await push(http, one.url, a.token("alice"), payload)
            pushed = time.monotonic()
            notice = await next_of_type(a_on_two, "changed", timeout=1.0)
            latency = time.monotonic() - pushed
            assert latency < 1.0, f"round {round_}: {latency:.3f} s"
            conn = await asyncpg.connect(db_url)
            try:
                seq = await conn.fetchval(
                    "SELECT max(seq) FROM messages WHERE tenant_id = $1", a.id
                )
            finally:
                await conn.close()
            assert notice["seq"] == seq
            await next_of_type(a_on_one, "changed", timeout=1.0)
        # Tenant B's socket on the same process heard nothing of all that.
        with pytest.raises(TimeoutError):
            got = await b_on_two.receive(timeout=0.5)
            pytest.fail(f"tenant B was told of tenant A's changes: {got.data!r}")
        # ... and is alive: B's own push reaches it, from the other process.
        writer = ClientReplica()
        msg = writer.edit_field("partners", new_row(), "name", "Globex")
        payload = orjson.dumps({"node": writer.node, "messages": [msg.to_json()]})
        await push(http, one.url, b.token("alice"), payload)
        await next_of_type(b_on_two, "changed", timeout=1.0)


# -- crash in the middle of a batch -----------------------------------------------------------


@dataclass
class Batch:
    messages: list[Message]
    kill: str  # when the server was killed: "never", or the moment (see KILL_MOMENTS)
    after_s: float = 0.0  # seconds into the request when it was killed
    acked: bool = False
    error: str = ""
    present: int = field(default=0)


# When to SIGKILL the server during a push:
# * "reading": 20 ms in, while it receives and validates the body;
# * "writing": once the batch's transaction holds the tenant's advisory lock (nothing is
#   committed yet), plus a random part of the time the transaction takes;
# * "committed": as soon as the batch is visible to another connection, before the
#   response is (likely) sent.
KILL_MOMENTS = ("reading", "writing", "writing", "committed")

# A writer holds its tenant's row of tenant_sequences (storage.common.lock_tenant): its
# session holds a row-level mode on that table until it commits or rolls back.
TENANT_LOCK_HELD = """
SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE c.relname = 'tenant_sequences' AND l.granted AND l.pid <> pg_backend_pid()
  AND l.mode IN ('RowShareLock', 'RowExclusiveLock')
"""
# A killed server's database session runs on until its statement ends and it finds the
# client gone; it then rolls back and releases the tenant lock.
NO_WRITER = f"SELECT ({TENANT_LOCK_HELD}) = 0"


async def poll(conn: asyncpg.Connection, sql: str, *args: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await conn.fetchval(sql, *args):
            return True
        await asyncio.sleep(0.005)
    return False


def make_batch(shared: list[str], size: int, rng: random.Random) -> list[Message]:
    """`size` edits from a new device: overwrites and deletes of shared rows (so batches
    compete by LWW) and new rows in two datasets. Stamped with the HLC directly (a
    ClientReplica would also merge every edit into its state, which is slow at 20k)."""
    clock = Clock.new(secrets.token_hex(8))
    now = int(time.time() * 1000)
    out: list[Message] = []

    def edit(dataset: str, row: str, column: str, value: Scalar) -> None:
        nonlocal clock
        clock, ts = send(clock, now)
        out.append(Message(dataset, row, column, value, str(ts)))

    while len(out) < size:
        kind = rng.random()
        if kind < 0.3:
            edit("pre_order_flows", rng.choice(shared), "quantity", rng.randint(0, 999))
        elif kind < 0.35:
            edit("pre_order_flows", rng.choice(shared), "tombstone", rng.randint(0, 1))
        elif kind < 0.8:
            row = new_row()
            edit("pre_orders", row, "status", rng.choice(["pending", "confirmed"]))
            edit("pre_orders", row, "delivery_date", "2026-12-01")
        else:
            edit("partners", new_row(), "name", f"P{len(out)}")
    return out[:size]


async def check_consistent(db_url: str, tenant_id: str) -> tuple[int, tuple[int, int]]:
    """The materialized rows are the LWW of the stored messages (greatest timestamp per
    field), and the merkle table is the trie of the stored messages, both recomputed here
    from the log alone. Returns the message count and the root."""
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT timestamp, dataset, row_id, col, value::text AS value FROM messages "
            "WHERE tenant_id = $1",
            tenant_id,
        )
        winners: dict[tuple[str, str, str], tuple[str, str]] = {}
        for r in rows:
            key = (r["dataset"], r["row_id"], r["col"])
            if key not in winners or winners[key][0] < r["timestamp"]:
                winners[key] = (r["timestamp"], r["value"])
        expected = {k: (orjson.loads(v), ts) for k, (ts, v) in winners.items()}
        materialized: dict[tuple[str, str, str], tuple[object, str]] = {}
        for dataset, columns in DATASETS.items():
            cols = ", ".join(f"{c}, {c}_ts" for c in columns)
            for rec in await conn.fetch(
                f"SELECT id::text AS id, {cols} FROM {dataset} WHERE tenant_id = $1",  # noqa: S608
                tenant_id,
            ):
                for c in columns:
                    if rec[f"{c}_ts"] is not None:
                        materialized[(dataset, rec["id"], c)] = (
                            scalar_from_db(rec[c]),
                            rec[f"{c}_ts"],
                        )
        assert materialized == expected

        merkle = {
            r["path"]: [r["hash"], r["count"]]
            for r in await conn.fetch(
                "SELECT path, hash, count FROM merkle_nodes WHERE tenant_id = $1 AND count > 0",
                tenant_id,
            )
        }
        trie = FlatTrie()
        for r in rows:
            trie.insert(r["timestamp"])
        assert merkle == trie.nodes
        root = trie.get("") or (0, 0)
        return len(rows), root
    finally:
        await conn.close()


async def test_sigkill_mid_batch_never_leaves_half_a_batch(
    spawn: Spawn, make_tenant: MakeTenant, db_url: str
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    t = await make_tenant(reps=("alice",), admins=("carla",))
    token = t.token("alice")
    shared = [new_row() for _ in range(40)]
    size = 20_000
    proc = await spawn()
    batches: list[Batch] = []

    watcher = await asyncpg.connect(db_url)
    async with aiohttp.ClientSession() as http:
        # First batch, not killed: how long a whole one takes here.
        first = Batch(make_batch(shared, size, rng), "never")
        node = first.messages[0].node
        payload = orjson.dumps({"node": node, "messages": [m.to_json() for m in first.messages]})
        started = time.monotonic()
        body = await push(http, proc.url, token, payload)
        full = time.monotonic() - started
        first.acked = body["inserted"] == size
        batches.append(first)

        for moment in KILL_MOMENTS:
            batch = Batch(make_batch(shared, size, rng), moment)
            node = batch.messages[0].node
            payload = orjson.dumps(
                {"node": node, "messages": [m.to_json() for m in batch.messages]}
            )
            assert await poll(watcher, NO_WRITER), "a killed server's write never ended"
            started = time.monotonic()
            task = asyncio.create_task(push(http, proc.url, token, payload))
            if moment == "reading":
                await asyncio.sleep(0.02)
            elif moment == "writing":
                assert await poll(watcher, TENANT_LOCK_HELD), "the batch never started writing"
                await asyncio.sleep(rng.uniform(0, 0.5) * full)
            else:
                assert await poll(
                    watcher,
                    "SELECT count(*) FROM messages WHERE tenant_id = $1 AND timestamp = $2",
                    t.id,
                    batch.messages[-1].timestamp,
                ), "the batch never committed"
            proc.kill()
            batch.after_s = round(time.monotonic() - started, 3)
            try:
                answer = await task
                batch.acked = answer["inserted"] == size
            except (aiohttp.ClientError, AssertionError, TimeoutError) as exc:
                batch.error = type(exc).__name__
            batches.append(batch)
            proc = await spawn()
        assert await poll(watcher, NO_WRITER), "a killed server's write never ended"
        await watcher.close()

        # Every batch is whole or absent, whole if it was acknowledged.
        conn = await asyncpg.connect(db_url)
        try:
            for batch in batches:
                stamps = [m.timestamp for m in batch.messages]
                batch.present = await conn.fetchval(
                    "SELECT count(*) FROM messages WHERE tenant_id = $1 AND timestamp = ANY($2)",
                    t.id,
                    stamps,
                )
        finally:
            await conn.close()
        table = "\n".join(
            f"  kill={b.kill:<9} at={b.after_s:.3f}s acked={b.acked!s:<5} "
            f"error={b.error or '-'} present={b.present}/{size}"
            for b in batches
        )
        print(f"\nseed={seed} full batch {full:.2f} s\n{table}")
        for batch in batches:
            assert batch.present in (0, size), f"half a batch (seed {seed}):\n{table}"
            if batch.acked or batch.kill == "committed":
                assert batch.present == size, f"a committed batch was lost:\n{table}"
        total, root = await check_consistent(db_url, t.id)
        assert total == size * sum(1 for b in batches if b.present)

        # The restarted server works from exactly that state: a new device is told that
        # root, and pushing an unacknowledged batch again, as its client would, is harmless
        # if it had committed and completes it if it had not.
        probe = {"node": secrets.token_hex(8), "summary": {"scopes": [""], "nodes": []}}
        answer = await push(http, proc.url, token, orjson.dumps(probe))
        assert tuple(answer["root"]) == root
        unacked = [b for b in batches if not b.acked]
        retried = [b for b in unacked if b.present] + [b for b in unacked if not b.present][:1]
        for batch in retried:
            node = batch.messages[0].node
            messages = [m.to_json() for m in batch.messages]
            payload = orjson.dumps({"node": node, "messages": messages})
            answer = await push(http, proc.url, token, payload)
            assert answer["inserted"] == size - batch.present
        total, root = await check_consistent(db_url, t.id)
        assert total == size * sum(1 for b in batches if b.present or b in retried)


def _children(pid: int) -> dict[int, float]:
    """Child processes of `pid` running the server, with their CPU seconds so far."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and b"multiprocessing.spawn" in cmdline:
            out[int(entry.name)] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return out


async def test_workers_share_the_port_and_stop_together(spawn: Spawn) -> None:
    proc = await spawn("--workers", "2")
    # Healthy means one worker listens; the other may still be starting: wait until both
    # are idle, so that the CPU they use from here on is spent serving.
    deadline = time.monotonic() + 30
    before = _children(proc.popen.pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        settled, before = before, _children(proc.popen.pid)
        if settled == before:
            break
    assert len(before) == 2
    # Each request on a new connection: the kernel spreads them over both workers.
    after = before
    while time.monotonic() < deadline:
        for _ in range(50):
            async with aiohttp.ClientSession() as http, http.get(proc.url + "/healthz") as resp:
                assert resp.status == 200
        after = _children(proc.popen.pid)
        assert set(after) == set(before)
        if all(after[pid] > before[pid] for pid in before):
            break
    assert all(after[pid] > before[pid] for pid in before), (before, after)
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.popen.wait(timeout=15) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in before)
