"""The aiohttp application: one factory, typed app keys, middlewares for errors, request
ids, structured logs and security headers. Handlers live in `routes/`; SQL in `storage`."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import orjson
from aiohttp import web

from crdt.hlc import Clock

from . import database
from .auth import Principal, read_token
from .errors import ApiError, forbidden, unauthorized
from .live import LiveHub
from .metrics import Metrics
from .nodes import NodeOwners
from .ratelimit import RateLimiter
from .settings import Settings
from .writer import WRITER, TenantWriter

log = logging.getLogger("recap.http")

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
METRICS = web.AppKey("metrics", Metrics)
LIMITER = web.AppKey("limiter", RateLimiter)
HUB = web.AppKey("hub", LiveHub)
CLOCK = web.AppKey("clock", list)  # [Clock]: the server's own clock, for its own writes
NODE_OWNERS = web.AppKey("node_owners", NodeOwners)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: object, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)
    route = (
        request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
    )
    status = 500
    try:
        response = await handler(request)
        status = response.status
    except ApiError as exc:
        status = exc.status
        response = json_response(exc.body(), exc.status)
    except web.HTTPRequestEntityTooLarge:
        status = 413
        response = json_response(
            {"code": "too_large", "message": "request body is larger than the limit"}, 413
        )
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        response = json_response(
            {"code": exc.reason.lower().replace(" ", "_"), "message": exc.reason}, exc.status
        )
        if "Allow" in exc.headers:  # a 405 must say which methods are allowed (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        log.exception("unhandled error", extra={"request_id": request_id})
        response = json_response({"code": "internal", "message": "internal server error"}, 500)
    response.headers["X-Request-Id"] = request_id
    request.app[METRICS].observe_request(route, status)
    if request.app[SETTINGS].log_requests:
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
    return response


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'",
    )
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def principal(request: web.Request, admin: bool = False) -> Principal:
    """The authenticated caller, or 401/403/429."""
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
    found = read_token(request.app[SETTINGS].token_secret, token) if token else None
    if found is None:
        raise unauthorized()
    if admin and found.role != "admin":
        raise forbidden("this endpoint requires the admin role")
    wait = request.app[LIMITER].allow(found.user_id)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests; retry in {wait:.2f} s",
            retry_after_s=round(wait, 2),
        )
    return found


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    from .api.summary import SUMMARY_CACHE

    settings = app[SETTINGS]
    url = settings.database_url or database.embedded_url(settings.data_dir)
    await database.migrate_async(url)
    pool = await database.create_pool(url, settings.pool_min, settings.pool_max)
    app[POOL] = pool
    app[WRITER] = TenantWriter(pool, app[METRICS])
    hub = LiveHub(url)
    hub.on_change.append(app[SUMMARY_CACHE].invalidate)
    await hub.start()
    app[HUB] = hub
    yield
    await hub.stop()
    await pool.close()


async def _close_live_sockets(app: web.Application) -> None:
    if HUB in app:
        await app[HUB].close_sockets()


def create_app(settings: Settings) -> web.Application:
    from .airtable.runtime import BOX, bridge_ctx
    from .airtable.secrets_box import SecretsBox
    from .api.summary import SUMMARY_CACHE, SummaryCache
    from .relay import relay_ctx
    from .routes import register_routes

    app = web.Application(
        middlewares=[security_headers, error_middleware], client_max_size=settings.max_body_bytes
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[LIMITER] = RateLimiter(settings.rate_per_s, settings.rate_burst)
    app[CLOCK] = [Clock.new(secrets.token_hex(8), settings.max_drift_ms)]
    app[SUMMARY_CACHE] = SummaryCache()
    app[NODE_OWNERS] = NodeOwners()
    app.on_shutdown.append(_close_live_sockets)
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(relay_ctx)
    app[BOX] = SecretsBox(settings.connector_key, settings.token_secret)
    app.cleanup_ctx.append(bridge_ctx)
    register_routes(app)
    return app
