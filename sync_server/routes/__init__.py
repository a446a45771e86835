"""Route table: every declared operation (see api/registry.py), plus what OpenAPI cannot
describe (the WebSocket, Prometheus text, the static app)."""

from __future__ import annotations

from aiohttp import web

from ..api import catalog, connectors, docs, events, preorders, summary  # noqa: F401  (declare operations)
from ..api.registry import add_routes
from ..app import SETTINGS
from . import auth, debug, health, live, snapshot, sync  # noqa: F401  (declare operations)


def register_routes(app: web.Application) -> None:
    add_routes(app)
    app.router.add_get("/live", live.live)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/api/v1/openapi.json", docs.openapi_json)
    app.router.add_get("/api/v1/docs", docs.docs_page)
    static = app[SETTINGS].static_dir
    if static is not None and (static / "index.html").exists():
        index = static / "index.html"

        async def spa(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(index)

        app.router.add_get("/", spa)
        app.router.add_static("/", static, show_index=False)
