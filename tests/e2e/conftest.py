"""End-to-end fixtures: the built app (frontend/dist) served by the real sync server on a
real socket, a real PostgreSQL per test, a seeded tenant, and Debian's headless Chromium
driven by Playwright (browsers cannot be downloaded here, so the system one is used)."""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import WSCloseCode
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from recap_client.browser import CHROMIUM, CHROMIUM_ARGS
from seed import SeededUser, apply_stamped, create_tenant, demo_stamper
from sync_server.app import create_app
from sync_server.database import _init_connection
from sync_server.keys import HUB
from tests.conftest import db_fetch as shared_db_fetch
from tests.conftest import settings_for

REPO = Path(__file__).resolve().parents[2]
#: The built app; RECAP_E2E_DIST names another build (several builds side by side).
DIST = Path(os.environ.get("RECAP_E2E_DIST") or REPO / "frontend" / "dist")
ARTIFACTS = REPO / "test-artifacts"
PASSWORD = "recap-e2e"
#: Playwright's default timeout for expectations (ms): generous for a 2-core CI machine.
TIMEOUT = 15_000
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not (DIST / "index.html").exists():
        pytest.fail("frontend/dist is missing: build the app first (`make frontend`)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make chromium`)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        await b.close()


class AppServer:
    """The sync server serving the app; can be stopped and started again on the same port
    (a true outage: the service worker's and the page's requests all fail)."""

    def __init__(self, db_url: str, tmp: Path, overrides: dict[str, object]) -> None:
        self.db_url = db_url
        self.tmp = tmp
        self.overrides = overrides
        self.server: TestServer | None = None
        self.port: int | None = None

    async def start(self) -> None:
        settings = settings_for(self.db_url, self.tmp, static_dir=DIST, **self.overrides)
        server = TestServer(create_app(settings), host="127.0.0.1", port=self.port)
        await server.start_server()
        self.server = server
        self.port = server.port

    async def stop(self) -> None:
        if self.server is None:
            return
        # Close the live WebSockets first: the server does not close them on shutdown, so
        # aiohttp would wait for its shutdown timeout (tens of seconds) for their handlers.
        hub = self.server.app[HUB]
        for sockets in list(hub.subscribers.values()):
            for ws in list(sockets):
                await ws.close(code=WSCloseCode.GOING_AWAY)
        await self.server.close()
        self.server = None

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"


MakeApp = Callable[..., Awaitable[AppServer]]


@pytest.fixture
async def make_app(db_url: str, tmp_path: Path) -> AsyncIterator[MakeApp]:
    started: list[AppServer] = []

    async def make(**overrides: object) -> AppServer:
        app = AppServer(db_url, tmp_path, overrides)
        await app.start()
        started.append(app)
        return app

    yield make
    for app in started:
        await app.stop()


@pytest.fixture
async def app(make_app: MakeApp) -> AppServer:
    return await make_app()


@dataclass
class Seeded:
    tenant_id: str
    users: dict[str, SeededUser] = field(default_factory=dict)

    def email(self, name: str) -> str:
        return self.users[name].email


SeedTenant = Callable[..., Awaitable[Seeded]]


@pytest.fixture
def seed_tenant(db_url: str) -> SeedTenant:
    async def seed(
        days_back: int = 2, days_ahead: int = 6, partners: int = 40, products: int = 60
    ) -> Seeded:
        conn = await asyncpg.connect(db_url)
        try:
            await _init_connection(conn)
            suffix = secrets.token_hex(3)
            spec = [
                (f"alice-{suffix}@e2e.example", "Alice Martin", PASSWORD, "rep"),
                (f"bob-{suffix}@e2e.example", "Bob Chen", PASSWORD, "rep"),
                (f"carla-{suffix}@e2e.example", "Carla Diaz", PASSWORD, "admin"),
            ]
            tenant_id, users = await create_tenant(conn, "E2E Produce", spec)
            stamped = demo_stamper(
                random.Random(7), days_back, days_ahead, partners, products, users=users
            )
            await apply_stamped(conn, tenant_id, stamped)
        finally:
            await conn.close()
        return Seeded(tenant_id, dict(zip(("alice", "bob", "carla"), users, strict=True)))

    return seed


NewPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[NewPage]:
    """A page in a fresh browser context (a fresh device: its own IndexedDB and service worker)."""
    contexts: list[BrowserContext] = []

    async def make(width: int = 1280, height: int = 800, **kw: Any) -> Page:
        context = await browser.new_context(viewport={"width": width, "height": height}, **kw)
        context.set_default_timeout(TIMEOUT)
        contexts.append(context)
        return await context.new_page()

    yield make
    for context in contexts:
        await context.close()


db_fetch = shared_db_fetch
