"""Benchmark infrastructure: a fresh database (DATABASE_URL's server, or an embedded
PostgreSQL), Recap's server as a real process on loopback, tenants, and fast direct seeding
through the product's own apply path. (The peer, the real Actual server, is
bench/actual_peer.py.)"""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from crdt.message import Message
from sync_server import database
from sync_server.database import _init_connection
from sync_server.storage.apply import apply_messages

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process on this machine, from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Process:
    def __init__(self, args: list[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (lives as long as the process)
            prefix="recap-bench-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    err = Path(self.log.name).read_text()[-2000:]
                    raise RuntimeError(f"server exited: {err}")
                try:
                    async with session.get(self.url + path) as resp:
                        if resp.status < 500:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError("server did not start")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.log.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Harness:
    """`async with Harness() as h:` a migrated database, Recap's server, helpers.
    `Harness(servers=False)`: the database only (a benchmark that runs its own server)."""

    def __init__(self, servers: bool = True) -> None:
        self.servers = servers
        self.secret = secrets.token_urlsafe(32)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._pg: Any = None
        self.admin_url = ""
        self.db_url = ""
        self.db_name = f"recap_bench_{secrets.token_hex(4)}"
        self.server: Process | None = None
        self.conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> Harness:
        if os.environ.get("DATABASE_URL"):
            self.admin_url = os.environ["DATABASE_URL"]
        else:
            import pgserver

            self._tmp = tempfile.TemporaryDirectory(prefix="recap-bench-")
            self._pg = pgserver.get_server(Path(self._tmp.name) / "pg", cleanup_mode="stop")
            self._pg.psql("ALTER SYSTEM SET max_connections = 300;")
            self._pg.psql("ALTER SYSTEM SET synchronous_commit = on;")
            self.admin_url = self._pg.get_uri()
        conn = await asyncpg.connect(self.admin_url)
        await conn.execute(f'CREATE DATABASE "{self.db_name}"')
        await conn.close()
        self.db_url = with_database(self.admin_url, self.db_name)
        await asyncio.to_thread(database.migrate, self.db_url)
        if self.servers:
            await self._start_servers()
        self.conn = await asyncpg.connect(self.db_url)
        await _init_connection(self.conn)
        return self

    async def _start_servers(self) -> None:
        env = {
            "DATABASE_URL": self.db_url,
            "RECAP_TOKEN_SECRET": self.secret,
            "RECAP_RATE_PER_S": "1000000000",
            "RECAP_RATE_BURST": "1000000000",
            "RECAP_LOG_REQUESTS": "false",
            "RECAP_POOL_MAX": "20",
            "RECAP_DATA_DIR": tempfile.mkdtemp(prefix="recap-bench-data-"),
        }
        port = free_port()
        self.server = Process(["-m", "sync_server", "run", "--port", str(port)], env, port)
        await self.server.wait_ready("/healthz")

    async def __aexit__(self, *exc: object) -> None:
        if self.conn is not None:
            await self.conn.close()
        if self.server is not None:
            self.server.stop()
        conn = await asyncpg.connect(self.admin_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        await conn.close()
        if self._pg is not None:
            self._pg.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def database_cpu_seconds(self) -> float | None:
        """CPU of the PostgreSQL backends now connected to the bench database (the server's
        pool stays connected, so a difference over a window is the database's share of it),
        or None when PostgreSQL is not on this machine (its pids would name other processes
        here): the bench's own backend must show up in /proc as a postgres process."""
        assert self.conn is not None
        own = await self.conn.fetchval("SELECT pg_backend_pid()")
        try:
            if b"postgres" not in Path(f"/proc/{own}/cmdline").read_bytes():
                return None
        except OSError:
            return None
        pids = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        )
        return sum(process_cpu_seconds(r["pid"]) for r in pids)

    async def tenant(self, name: str, users: list[str]) -> tuple[str, dict[str, str]]:
        """A tenant and its users' tokens (user name -> token)."""
        from seed import create_tenant
        from sync_server.services.accounts import open_session

        assert self.conn is not None
        tenant_id, created = await create_tenant(
            self.conn,
            name,
            [(f"{u}-{secrets.token_hex(3)}@bench.example", u, "pw", "admin") for u in users],
        )
        tokens = {
            u: await open_session(self.conn, self.secret, c.id, tenant_id, 86400)
            for u, c in zip(users, created, strict=True)
        }
        return tenant_id, tokens

    async def seed(self, tenant_id: str, messages: list[Message], batch: int = 10_000) -> float:
        """Store messages through the product's apply path; seconds taken."""
        assert self.conn is not None
        started = time.perf_counter()
        for i in range(0, len(messages), batch):
            await apply_messages(self.conn, tenant_id, None, messages[i : i + batch])
        return time.perf_counter() - started


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
