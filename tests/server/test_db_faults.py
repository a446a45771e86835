"""PostgreSQL down: a real server process on a PostgreSQL of its own, which the test stops
(an immediate shutdown, as a crash) and starts again. While it is down every data request
is answered 503 `unavailable` with Retry-After, /healthz still answers and /readyz says 503;
when it is back, the same process serves again. A server started before its database waits
for it, with backoff."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from recap_client import ClientReplica, SyncClient, SyncError
from seed import create_tenant
from sync_server import database
from sync_server.services.accounts import open_session
from sync_server.settings import PROJECT_ROOT
from tests.conftest import TEST_SECRET
from tests.postgres import Postgres, own_postgres
from tests.server.test_processes import free_port


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    with own_postgres() as pg:
        yield pg


def start_server(url: str, tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    with open(log, "wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "sync_server", "run", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env={**os.environ, "DATABASE_URL": url, "RECAP_TOKEN_SECRET": TEST_SECRET,
                 "RECAP_DATA_DIR": str(tmp_path), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}", log


async def wait_for(http: aiohttp.ClientSession, url: str, status: int, seconds: float) -> float:
    """Seconds until `url` answers `status`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            async with http.get(url) as resp:
                if resp.status == status:
                    return time.monotonic() - started
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer {status} within {seconds} s")


async def a_tenant(url: str) -> tuple[str, str]:
    await database.migrate_async(url)
    conn = await asyncpg.connect(url)
    try:
        tenant, [user] = await create_tenant(
            conn, "Faulty", [("rep@faulty.example", "Rep", "pw", "rep")]
        )
        return tenant, await open_session(conn, TEST_SECRET, user.id, tenant, 3600)
    finally:
        await conn.close()


async def test_requests_are_503_while_postgres_is_down_and_the_server_recovers(
    postgres: Postgres, tmp_path: Path
) -> None:
    _, token = await a_tenant(postgres.url)
    proc, url, log = start_server(postgres.url, tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            await wait_for(http, url + "/readyz", 200, 30)
            device = SyncClient(url, ClientReplica(), http, token)
            device.replica.edit_field(
                "partners", "0190a1b2-0000-7000-8000-000000000001", "name", "Before"
            )
            await device.sync()

            postgres.stop()
            device.replica.edit_field(
                "partners", "0190a1b2-0000-7000-8000-000000000002", "name", "During"
            )
            for _ in range(3):  # broken pool connections, then refused ones: 503 every time
                with pytest.raises(SyncError) as refused:
                    await device.sync()
                assert refused.value.status == 503 and refused.value.code == "unavailable"
            async with http.get(
                url + "/auth/me", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert resp.status == 503 and int(resp.headers["Retry-After"]) >= 1
                body: Any = await resp.json()
                assert body["code"] == "unavailable"
            async with http.get(url + "/healthz") as resp:
                assert resp.status == 200
            async with http.get(url + "/readyz") as resp:
                assert resp.status == 503
            assert device.replica.outbox  # the edit waits on the device

            postgres.start()
            await wait_for(http, url + "/readyz", 200, 30)
            await device.sync()
            assert not device.replica.outbox
        assert proc.poll() is None  # the same process, never restarted
    finally:
        proc.kill()
        proc.wait()
    text = log.read_text()
    assert "unhandled error" not in text, text[-2000:]


async def test_a_server_started_before_its_database_waits_for_it(
    postgres: Postgres, tmp_path: Path
) -> None:
    await a_tenant(postgres.url)
    postgres.stop()
    proc, url, log = start_server(postgres.url, tmp_path, RECAP_DB_WAIT_S="60")
    try:
        await asyncio.sleep(3)
        assert proc.poll() is None, log.read_text()[-2000:]  # still waiting, not exited
        postgres.start()
        async with aiohttp.ClientSession() as http:
            await wait_for(http, url + "/readyz", 200, 30)
    finally:
        proc.kill()
        proc.wait()
    assert "database not reachable; retrying" in log.read_text()


async def test_a_server_gives_up_after_its_wait(postgres: Postgres, tmp_path: Path) -> None:
    postgres.stop()
    proc, _, log = start_server(postgres.url, tmp_path, RECAP_DB_WAIT_S="2")
    try:
        assert proc.wait(timeout=30) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "database not reachable; retrying" in log.read_text()
