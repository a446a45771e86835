"""Route table."""

from __future__ import annotations

from aiohttp import web

from ..app import SETTINGS
from . import auth, debug, health, live, snapshot, sync


def register_routes(app: web.Application) -> None:
    app.router.add_post("/auth/login", auth.login)
    app.router.add_get("/auth/me", auth.me)
    app.router.add_post("/sync", sync.sync)
    app.router.add_get("/snapshot", snapshot.snapshot)
    app.router.add_get("/live", live.live)
    app.router.add_get("/debug/merkle", debug.get_merkle)
    app.router.add_post("/debug/merkle/compare", debug.compare_merkle)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/metrics", health.metrics)
    static = app[SETTINGS].static_dir
    if static is not None and (static / "index.html").exists():
        index = static / "index.html"

        async def spa(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(index)

        app.router.add_get("/", spa)
        app.router.add_static("/", static, show_index=False)
