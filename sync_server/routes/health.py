"""GET /healthz (the process lives), GET /readyz (it can serve: the database answers and the
schema is current) and GET /metrics (Prometheus text, for admins)."""

from __future__ import annotations

from aiohttp import web

from ..database import is_unreachable, migrations_pending
from ..errors import Unavailable
from ..httpio import json_response
from ..keys import METRICS, POOL, SETTINGS
from ..models import Health
from ..operations import ADMINS, PUBLIC, operation
from ..storage.common import ping


@operation("GET", "/healthz", "Liveness: the process answers", "ops", response=Health, roles=PUBLIC)
async def healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@operation(
    "GET",
    "/readyz",
    "Readiness: the database is reachable and every migration applied",
    "ops",
    response=Health,
    errors=[503],
    roles=PUBLIC,
)
async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[POOL].acquire(timeout=5) as conn:
            await ping(conn)
    except Exception as exc:
        if not is_unreachable(exc) and not isinstance(exc, TimeoutError):
            raise
        raise Unavailable("the database cannot be reached") from None
    settings = request.app[SETTINGS]
    if settings.database_url and await migrations_pending(settings.database_url):
        raise Unavailable("migrations are pending")
    return json_response({"status": "ok"})


@operation("GET", "/metrics", "Prometheus text", "ops", roles=ADMINS, documented=False)
async def metrics(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    text = request.app[METRICS].render()
    text += f"# TYPE recap_db_pool_size gauge\nrecap_db_pool_size {pool.get_size()}\n"
    return web.Response(text=text, content_type="text/plain")
