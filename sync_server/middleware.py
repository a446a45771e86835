"""The middlewares every response passes through: errors mapped to HTTP in this one place,
request ids and structured request logs, security headers.

Every error answer is JSON `{"code", "message", ...details}`, whoever raised it: a
`RecapError` (its class gives the status, `STATUS`), or aiohttp's router: a path no route
or file of the web app serves is 404 `not_found` whatever the method, a known path asked
with another method is 405 `method_not_allowed` with `Allow` (which paths the web app's
files take is `app._static`'s rule). An error with a wait (`retry_after_s`: a 429, a busy
503) carries `Retry-After` in whole seconds, at least one (`errors.whole_seconds`)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from crdt.errors import CrdtError, InvalidMessage, RecapError

from . import errors
from .database import is_unreachable
from .httpio import json_response
from .keys import METRICS, SETTINGS

log = logging.getLogger("recap.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The HTTP status of each kind of error; an error takes the status of its nearest class
#: listed here (so a new subclass needs no entry of its own).
STATUS: dict[type[RecapError], int] = {
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.TimedOut: 408,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.Invalid: 422,
    errors.PreconditionRequired: 428,
    errors.RateLimited: 429,
    errors.UpstreamFailed: 502,
    errors.Unavailable: 503,
    InvalidMessage: 422,
    CrdtError: 422,
    RecapError: 500,
}


def status_of(exc: RecapError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def error_body(exc: RecapError) -> dict[str, object]:
    return {"code": exc.code, "message": exc.message, **exc.details}


def http_error_body(request: web.Request, exc: web.HTTPException) -> dict[str, object]:
    """The JSON body of an error aiohttp raised (mostly its router's 404 and 405): the
    reason as the code (`Not Found` -> `not_found`), and a message naming the request."""
    code = exc.reason.lower().replace(" ", "_")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        message = f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    elif isinstance(exc, web.HTTPNotFound):
        message = f"nothing is served at {request.path}"
    else:
        message = exc.reason
    return {"code": code, "message": message}


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
    except RecapError as exc:
        status = status_of(exc)
        response = json_response(error_body(exc), status)
        wait = exc.details.get("retry_after_s")
        if isinstance(wait, int | float):
            response.headers["Retry-After"] = str(errors.whole_seconds(wait))
    except web.HTTPRequestEntityTooLarge:
        status = 413
        response = json_response(
            {"code": "too_large", "message": "request body is larger than the limit"}, 413
        )
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        response = json_response(http_error_body(request, exc), exc.status)
        if "Allow" in exc.headers:  # a 405 must say which methods are allowed (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception as exc:
        if is_unreachable(exc):  # PostgreSQL is down or restarting: come back shortly
            status = 503
            response = json_response(
                {"code": "unavailable", "message": "the database cannot be reached; retry soon"},
                503,
            )
            response.headers["Retry-After"] = "2"
            log.warning("database unreachable", extra={"request_id": request_id})
        else:
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
async def body_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A body over the limit is refused from its Content-Length, before a byte of it is
    read (and before authentication: the check is free)."""
    limit = request.app[SETTINGS].max_body_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise errors.TooLarge(
            f"request body is {declared} bytes; the limit is {limit}", limit=limit
        )
    return await handler(request)


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
