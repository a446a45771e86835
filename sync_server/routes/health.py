"""GET /healthz and GET /metrics."""

from __future__ import annotations

from aiohttp import web

from ..api.models import Health
from ..api.registry import operation
from ..app import METRICS, POOL, json_response


@operation(
    "GET", "/healthz", "Liveness and database reachability", "ops", response=Health, auth=False
)
async def healthz(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await conn.fetchval("SELECT 1")
    return json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    text = request.app[METRICS].render()
    text += f"# TYPE recap_db_pool_size gauge\nrecap_db_pool_size {pool.get_size()}\n"
    return web.Response(text=text, content_type="text/plain")
