"""The composition root: `create_app(settings)` builds every part of the server, stores each
under its key (`keys.py`), ties their lifetimes to the application's, and routes the
declared operations. Nothing else in the server imports this module; only the entry points
(`__main__.py`, `workers.py`) and the tests do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from . import database, operations
from .airtable.bridge import AirtableBridge
from .airtable.secrets_box import SecretsBox
from .api import (  # noqa: F401  (importing declares their operations)
    accounts,
    catalog,
    conflicts,
    connectors,
    docs,
    events,
    orders,
    orders_dashboard,
    preorders,
    summary,
)
from .keys import (
    ACCOUNTS,
    BODY_BUDGET,
    BRIDGE,
    CLOCK,
    HUB,
    LIMITER,
    METRICS,
    NODE_OWNERS,
    ORDERS_DASHBOARD,
    PAGE_CACHE,
    POOL,
    RECORDS,
    RELAY,
    RETENTION,
    SECRETS_BOX,
    SETTINGS,
    SUMMARY_CACHE,
    SYNC,
    WRITER,
)
from .metrics import Metrics
from .middleware import body_limits, error_middleware, security_headers
from .ratelimit import BodyBudget, RateLimiter
from .routes import auth, debug, health, live, snapshot, sync  # noqa: F401  (operations)
from .services import webhooks
from .services.accounts import Accounts
from .services.live import LiveHub
from .services.nodes import NodeOwners, server_clock
from .services.orders_dashboard import OrdersDashboard
from .services.pages import PageCache
from .services.records import Records
from .services.relay import Relay
from .services.retention import Retention
from .services.summary import SummaryCache
from .services.sync import SyncService
from .services.writer import TenantWriter
from .settings import Settings


async def _database(app: web.Application) -> AsyncIterator[None]:
    """Migrations, the pool, and what needs it: the tenant writer, the services over it,
    and the LISTEN connection of live updates (which also drops the summary cache's
    entries of a tenant that changed)."""
    settings = app[SETTINGS]
    url = settings.database_url or database.embedded_url(settings.data_dir)
    await database.wait_until_reachable(url, settings.db_wait_s)
    pool = await database.create_pool(url, settings.pool_min, settings.pool_max)
    app[POOL] = pool
    app[CLOCK] = await server_clock(pool, settings.max_drift_ms)
    app[WRITER] = TenantWriter(pool, app[METRICS])
    app[SYNC] = SyncService(pool, app[WRITER], app[CLOCK], app[NODE_OWNERS], settings, app[METRICS])
    app[RECORDS] = Records(pool, app[CLOCK])
    app[ACCOUNTS] = Accounts(pool, app[CLOCK], settings)
    hub = LiveHub(url)
    hub.on_change.append(app[SUMMARY_CACHE].invalidate)
    await hub.start()
    app[HUB] = hub
    yield
    await hub.stop()
    await pool.close()


async def _relay(app: web.Application) -> AsyncIterator[None]:
    """The outbox relay of this process (after the database: it needs the pool)."""
    settings = app[SETTINGS]
    relay = Relay(
        app[POOL],
        interval_s=settings.relay_interval_s,
        allow=webhooks.allow_list(settings.webhook_allow),
        timeout_s=settings.webhook_timeout_s,
    )
    app[RELAY] = relay
    if settings.relay_enabled:
        await relay.start()
    yield
    await relay.stop()


async def _retention(app: web.Application) -> AsyncIterator[None]:
    """The retention job (one process prunes at a time, whichever gets the lock)."""
    settings = app[SETTINGS]
    job = Retention(app[POOL], settings.retention_interval_s, settings.outbox_retention_days)
    app[RETENTION] = job
    if settings.retention_interval_s > 0:
        await job.start()
    yield
    await job.stop()


async def _airtable(app: web.Application) -> AsyncIterator[None]:
    """The Airtable bridge (it writes through the tenant writer), the orders dashboard over
    it, and, every
    `airtable_poll_s` (0: never), the run of connectors whose schedule is due."""
    settings = app[SETTINGS]
    bridge = AirtableBridge(
        app[POOL],
        app[WRITER],
        app[SECRETS_BOX],
        settings.airtable_api_url,
        settings.airtable_rate_per_s,
        settings.airtable_penalty_s,
        settings.airtable_max_retries,
        settings.airtable_backoff_s,
    )
    app[BRIDGE] = bridge
    # The orders dashboard (seed 002) over the bridge, with its own summary cache that
    # every committed change of a tenant empties for that tenant.
    dashboard_cache = SummaryCache(settings.summary_cache_entries)
    app[HUB].on_change.append(dashboard_cache.invalidate)
    app[ORDERS_DASHBOARD] = OrdersDashboard(app[POOL], app[RECORDS], bridge, dashboard_cache)
    schedule = (
        asyncio.create_task(bridge.run_schedule(settings.airtable_poll_s))
        if settings.airtable_poll_s > 0
        else None
    )
    yield
    if schedule is not None:
        schedule.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await schedule
    await bridge.close()


async def _close_live_sockets(app: web.Application) -> None:
    if HUB in app:
        await app[HUB].close_sockets()


class _AppFiles(web.StaticResource):
    """The web app's files at `/`, taking only the paths that name one of them.

    aiohttp's static resource takes every path under its prefix, and at `/` that is every
    path: an unknown one got its empty, non-JSON 404 (and a wrong method on an API path
    its `GET, HEAD` 405). Here a path that names no file (a missing one, a directory, one
    outside the folder) is left unmatched, so the router answers as for any path: the
    error middleware's JSON 404, or 405 when another route knows the path. Files are
    looked up per request, so a rebuilt app with new file names is served without a
    restart."""

    def __init__(self, directory: Path) -> None:
        super().__init__("", directory, show_index=False)  # "": at "/", as add_static("/")
        self.root = directory.resolve()

    def _names_a_file(self, path: str) -> bool:
        try:
            target = (self.root / path.lstrip("/")).resolve()
            return target.is_relative_to(self.root) and target.is_file()
        except (OSError, ValueError):  # a name the file system refuses (a NUL, too long)
            return False

    async def resolve(
        self, request: web.Request
    ) -> tuple[web.UrlMappingMatchInfo | None, set[str]]:
        if not await asyncio.to_thread(self._names_a_file, request.rel_url.path):
            return None, set()
        return await super().resolve(request)


def _static(app: web.Application, settings: Settings) -> None:
    """The built web app, when there is one, after every API route: `/` is `index.html`,
    and a path naming a file of the folder is that file (GET and HEAD). Nothing else falls
    back to `index.html`: the app routes by the URL's fragment (`/#/orders`, as the links
    in invitation and reset emails are), which the browser does not send, so every
    navigation into the app asks for `/`; any other path is unknown, and answered as an
    unknown API path is, a JSON 404 (`_AppFiles`)."""
    static = settings.static_dir
    if static is None or not (static / "index.html").exists():
        return
    index = static / "index.html"

    async def spa(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(index)

    app.router.add_get("/", spa)
    app.router.register_resource(_AppFiles(static))


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[security_headers, error_middleware, body_limits],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[LIMITER] = RateLimiter(settings.rate_per_s, settings.rate_burst)
    app[BODY_BUDGET] = BodyBudget(settings.body_budget_bytes, settings.max_body_bytes)
    app[SUMMARY_CACHE] = SummaryCache(settings.summary_cache_entries)
    app[PAGE_CACHE] = PageCache(settings.page_cache_bytes)
    app[NODE_OWNERS] = NodeOwners()
    app[SECRETS_BOX] = SecretsBox(settings.connector_key, settings.token_secret)
    app.on_shutdown.append(_close_live_sockets)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_relay)
    app.cleanup_ctx.append(_retention)
    app.cleanup_ctx.append(_airtable)
    operations.add_routes(app)
    _static(app, settings)
    return app
