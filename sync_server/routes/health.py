"""GET /healthz and GET /metrics."""

from __future__ import annotations

from aiohttp import web

from ..httpio import json_response
from ..keys import METRICS, POOL
from ..models import Health
from ..operations import PUBLIC, operation
from ..storage.common import ping


@operation(
    "GET",
    "/healthz",
    "Liveness and database reachability",
    "ops",
    response=Health,
    roles=PUBLIC,
)
async def healthz(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await ping(conn)
    return json_response({"status": "ok"})


@operation("GET", "/metrics", "Prometheus text", "ops", roles=PUBLIC, documented=False)
async def metrics(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    text = request.app[METRICS].render()
    text += f"# TYPE recap_db_pool_size gauge\nrecap_db_pool_size {pool.get_size()}\n"
    return web.Response(text=text, content_type="text/plain")
