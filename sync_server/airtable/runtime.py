"""The bridge inside the server process: created with the app, closed with it, and the
schedule that runs due connectors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from .bridge import AirtableBridge
from .secrets_box import SecretsBox

log = logging.getLogger("recap.airtable")
BRIDGE = web.AppKey("airtable_bridge", AirtableBridge)
BOX = web.AppKey("secrets_box", SecretsBox)


async def bridge_ctx(app: web.Application) -> AsyncIterator[None]:
    """After the database context: the bridge writes through the tenant writer. Every
    `airtable_poll_s` (0: never) the connectors whose schedule is due are run."""
    from ..app import POOL, SETTINGS
    from ..writer import WRITER

    settings = app[SETTINGS]
    bridge = AirtableBridge(
        app[POOL],
        app[WRITER],
        app[BOX],
        settings.airtable_api_url,
        settings.airtable_rate_per_s,
        settings.airtable_penalty_s,
        settings.airtable_max_retries,
        settings.airtable_backoff_s,
    )
    app[BRIDGE] = bridge

    async def schedule() -> None:
        while True:
            await asyncio.sleep(settings.airtable_poll_s)
            try:
                for tenant in await bridge.due_tenants():
                    await bridge.trigger(tenant, "schedule")
            except Exception:
                log.exception("airtable schedule failed")

    task = asyncio.create_task(schedule()) if settings.airtable_poll_s > 0 else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await bridge.close()
