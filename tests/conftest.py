"""Shared fixtures: a real PostgreSQL (DATABASE_URL, or an embedded one), one database per
test cloned from a migrated template, and the real server on a real socket."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sync_server import database
from sync_server.app import create_app
from sync_server.settings import Settings

TEST_SECRET = "test-secret-" + secrets.token_hex(8)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A maintenance URL on a server where tests may create databases."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="recap-pg-") as tmp:
        import pgserver

        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        yield server.get_uri()
        server.cleanup()


#: Set by tests/citus/test_on_citus.py for the server suite it runs through a Citus
#: coordinator: every test then uses that one database (a cluster does not clone databases
#: from a template), migrated and distributed once, emptied before each test.
ON_CITUS = os.environ.get("RECAP_TEST_ON_CITUS") == "1"


async def _empty(url: str) -> None:
    """Every application table emptied (yoyo's bookkeeping kept)."""
    conn = await asyncpg.connect(url)
    try:
        names = await conn.fetchval(
            """SELECT string_agg(quote_ident(c.relname), ', ')
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                 AND NOT c.relispartition AND c.relname NOT LIKE '%yoyo%'"""
        )
        await conn.execute(f"TRUNCATE {names} CASCADE")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def template_db(pg_url: str) -> AsyncIterator[str]:
    if ON_CITUS:
        from sync_server.storage import distribution

        url = os.environ["RECAP_TEST_CITUS_URL"]
        database.migrate(url)
        conn = await asyncpg.connect(url)
        try:
            await distribution.distribute(conn)
        finally:
            await conn.close()
        yield url
        return
    name = f"recap_tpl_{os.getpid()}_{secrets.token_hex(3)}"
    conn = await asyncpg.connect(pg_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    database.migrate(with_database(pg_url, name))
    yield name
    conn = await asyncpg.connect(pg_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture
async def db_url(pg_url: str, template_db: str) -> AsyncIterator[str]:
    if ON_CITUS:
        await _empty(template_db)
        yield template_db
        return
    name = f"recap_t_{secrets.token_hex(5)}"
    conn = await asyncpg.connect(pg_url)
    await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    await conn.close()
    yield with_database(pg_url, name)
    conn = await asyncpg.connect(pg_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def settings_for(db_url: str, tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db_url,
        "data_dir": tmp,
        "token_secret": TEST_SECRET,
        "log_requests": False,
        "static_dir": None,
        "rate_per_s": 10_000.0,
        "rate_burst": 10_000,
        "airtable_poll_s": 0,
        # nothing listens on the discard port: a run fails fast instead of leaving the machine
        "airtable_api_url": "http://127.0.0.1:9",
        "airtable_backoff_s": 0.01,
        # the test webhooks listen on loopback, which a real deployment refuses
        "webhook_allow": "127.0.0.0/8",
    }
    values.update(overrides)
    return Settings.model_validate(values)


async def db_fetch(db_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """Rows of one query on a test database, on a connection of its own."""
    conn = await asyncpg.connect(db_url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


@dataclass
class Running:
    url: str
    server: TestServer
    db_url: str

    @property
    def app(self) -> web.Application:
        return self.server.app


MakeServer = Callable[..., Awaitable[Running]]


@pytest.fixture
async def make_server(db_url: str, tmp_path: Path) -> AsyncIterator[MakeServer]:
    started: list[TestServer] = []

    async def start(**overrides: object) -> Running:
        app = create_app(settings_for(db_url, tmp_path, **overrides))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        started.append(server)
        return Running(str(server.make_url("")).rstrip("/"), server, db_url)

    yield start
    for server in started:
        await server.close()


@pytest.fixture
async def server(make_server: MakeServer) -> Running:
    return await make_server()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class Tenant:
    id: str
    users: dict[str, tuple[str, str]]  # name -> (user id, token)

    def token(self, name: str) -> str:
        return self.users[name][1]

    def user_id(self, name: str) -> str:
        return self.users[name][0]


MakeTenant = Callable[..., Awaitable[Tenant]]


@pytest.fixture
async def make_tenant(db_url: str, server: Running, http: aiohttp.ClientSession) -> MakeTenant:
    from seed import create_tenant

    async def make(
        name: str = "Acme",
        reps: tuple[str, ...] = ("alice", "bob"),
        admins: tuple[str, ...] = ("carla",),
        managers: tuple[str, ...] = (),
    ) -> Tenant:
        conn = await asyncpg.connect(db_url)
        suffix = secrets.token_hex(3)
        spec = [(f"{u}-{suffix}@example.com", u.title(), "pw-" + u, "rep") for u in reps]
        spec += [(f"{u}-{suffix}@example.com", u.title(), "pw-" + u, "admin") for u in admins]
        spec += [(f"{u}-{suffix}@example.com", u.title(), "pw-" + u, "manager") for u in managers]
        tenant_id, users = await create_tenant(conn, name, spec)
        await conn.close()
        out: dict[str, tuple[str, str]] = {}
        for (email, display, password, _), user in zip(spec, users, strict=True):
            async with http.post(
                server.url + "/auth/login", json={"email": email, "password": password}
            ) as resp:
                assert resp.status == 200, await resp.text()
                out[display.lower()] = (user.id, (await resp.json())["token"])
        return Tenant(tenant_id, out)

    return make


async def live_url(http: aiohttp.ClientSession, base: str, token: str) -> str:
    """The /live WebSocket URL for a token's session: with a short-lived ticket, as a
    browser connects (it cannot give the handshake headers)."""
    async with http.post(base + "/auth/ticket", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()
        ticket = (await r.json())["ticket"]
    return f"{base}/live?ticket={ticket}"
