"""HTTP in and out for every handler: read a JSON body or query into a pydantic model,
authenticate the caller, answer JSON. Failures raise the error tree (`errors.py`), which the
middleware turns into `{code, message}` answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from typing import Any, TypeVar

import orjson
from aiohttp import hdrs, web
from pydantic import BaseModel, ValidationError

from .auth import Principal, Role, read_token
from .errors import (
    BadRequest,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionRequired,
    RateLimited,
    TimedOut,
    Unauthorized,
)
from .keys import BODY_BUDGET, LIMITER, POOL, PRINCIPAL, SETTINGS
from .storage import sessions

M = TypeVar("M", bound=BaseModel)


def json_response(data: object, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


#: Bodies shorter than this go uncompressed: a sync round with nothing new is ~170 bytes,
#: where gzip's own header and trailer (18 bytes) and the CPU would buy nothing.
COMPRESS_MIN_BYTES = 1024


def accepts_gzip(request: web.Request) -> bool:
    """Whether the request's `Accept-Encoding` allows gzip: named, or `*`, with a weight
    above 0 (RFC 9110, 12.5.3; a `gzip` entry outranks `*`)."""
    weights: dict[str, float] = {}
    for part in request.headers.get(hdrs.ACCEPT_ENCODING, "").lower().split(","):
        coding, _, params = part.partition(";")
        params = params.strip()
        try:
            q = float(params.removeprefix("q=")) if params.startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        weights[coding.strip()] = q
    q = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return q > 0


def compressed(request: web.Request, response: web.Response) -> web.Response:
    """`response` gzipped when the client accepts gzip and the body is big enough to gain:
    the bulk answers, `/sync` and `/snapshot` pages, JSON that gzip shrinks ~8x (a
    100k-message snapshot: 7.7 MB as it is, 0.90 MB gzipped).

    aiohttp's own compression (`enable_compression`) does the work: it compresses a whole
    body at once, in the loop's default executor once over 4 KiB (zlib releases the GIL,
    so on a 2-core server the other core does it while the loop keeps serving), and sets
    `Content-Encoding` and `Content-Length`. It offers no choice of level, so it is zlib's
    default, 6, the moderate one: on that snapshot 96 ms of CPU against 26 ms at level 1
    for a 21% bigger body (1.09 MB) and 514 ms at level 9 for 12% smaller; a bootstrap
    is rare and its bytes cross a phone's network, so 6 is the right side of that trade.
    gzip is forced rather than left to aiohttp's pick, which takes `deflate` (its first
    entry) whenever a client offers both, as every browser does; gzip is the unambiguous
    one. Brotli and zstd, which Chromium also decodes, are not offered: aiohttp's server
    side encodes neither and no library for them is pinned here."""
    response.headers[hdrs.VARY] = hdrs.ACCEPT_ENCODING
    body = response.body
    if isinstance(body, bytes) and len(body) >= COMPRESS_MIN_BYTES and accepts_gzip(request):
        response.enable_compression(web.ContentCoding.gzip)
    return response


def describe(exc: ValidationError) -> str:
    """The first validation error, as `where: what`."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


async def read_json(request: web.Request) -> Any:
    """The body as JSON. Read only after the caller is authenticated (the operation's guard
    runs first), within the process's body budget (`ratelimit.BodyBudget`: its user's
    share, or its address's for a public endpoint), and within `body_timeout_s` (a client
    that dribbles its body: 408)."""
    settings = request.app[SETTINGS]
    who = request.get(PRINCIPAL)
    holder = who.user_id if who is not None else client_address(request)
    declared = request.content_length
    size = settings.max_body_bytes if declared is None else declared
    async with request.app[BODY_BUDGET].reserve(holder, size, settings.body_wait_s):
        try:
            async with asyncio.timeout(settings.body_timeout_s):
                body = await request.read()
        except TimeoutError:
            raise TimedOut("the request body did not arrive in time") from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"body is not valid JSON: {exc}") from None


async def parse_body(request: web.Request, model: type[M]) -> M:
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid(describe(exc)) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise Invalid(describe(exc)) from None


def idempotency_key(request: web.Request) -> str:
    """An idempotent create's key: required (428), at most 200 printable ASCII characters
    (422; the OpenAPI pattern says the same)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise PreconditionRequired("an Idempotency-Key header is required")
    if len(key) > 200 or not key.isascii() or not key.isprintable():
        raise Invalid("Idempotency-Key must be at most 200 printable ASCII characters")
    return key


def created(document: object, replayed: bool, etag: str) -> web.Response:
    """An idempotent create's answer: 201, or 200 with `Idempotent-Replayed` on a replay."""
    if replayed:
        return json_response(document, 200, ETag=etag, **{"Idempotent-Replayed": "true"})
    return json_response(document, 201, ETag=etag)


def path_uuid(request: web.Request, name: str = "id") -> str:
    raw = request.match_info[name]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFound(f"no such {name}: not a UUID") from None


SESSION_ENDED = {
    "signed_out": "you signed out on this device; sign in again",
    "password_changed": "the password was changed; sign in again",
    "role_changed": "your role was changed; sign in again",
}


async def authenticate(request: web.Request, roles: Collection[Role], ticket: bool) -> Principal:
    """The caller, from the bearer token in the `Authorization` header (or, for the
    WebSocket, whose handshake a browser cannot give headers, a short-lived `?ticket=`),
    checked against its session on the server: 401 without a valid token or when the
    session ended, 403 `account_disabled` or `device_revoked`, 403 if the user's role (as
    it is now) is not among `roles`, 429 once the user is over its rate. Called once per
    request, by the guard the operation registry puts around every handler that requires a
    user."""
    secret = request.app[SETTINGS].token_secret
    if ticket:
        claims = read_token(secret, request.query.get("ticket", ""), kind="ticket")
    else:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        claims = read_token(secret, token) if token else None
    if claims is None:
        raise Unauthorized()
    async with request.app[POOL].acquire() as conn:
        found = await sessions.state(conn, claims.session_id)
    if found is None or found.user_id != claims.user_id:
        raise Unauthorized()
    if found.device_revoked or found.ended_reason == "device_revoked":
        raise Forbidden(
            "this device was removed from the account; export its unsynced edits",
            code="device_revoked",
        )
    if not found.active or found.ended_reason == "deactivated":
        raise Forbidden("this account was deactivated by an admin", code="account_disabled")
    if found.ended_reason is not None:
        raise Unauthorized(SESSION_ENDED[found.ended_reason], code="session_ended")
    if found.expired:
        raise Unauthorized("the session expired; sign in again", code="session_ended")
    role: Role = found.role  # type: ignore[assignment]
    if role not in roles:
        raise Forbidden(f"this endpoint requires the {' or '.join(roles)} role")
    wait = request.app[LIMITER].allow(claims.user_id)
    if wait:
        raise RateLimited("too many requests", retry_after_s=round(wait, 2))
    return Principal(claims.user_id, claims.tenant_id, role, claims.session_id)


def client_address(request: web.Request) -> str:
    """The caller's address (the peer's; a proxy in front must be trusted to be used)."""
    return request.remote or "unknown"


def base_url(request: web.Request) -> str:
    """Where the app is served, for links sent to people (invites, password resets)."""
    configured = request.app[SETTINGS].public_url
    return configured.rstrip("/") if configured else f"{request.scheme}://{request.host}"


def caller(request: web.Request) -> Principal:
    """The authenticated caller of a guarded operation."""
    return request[PRINCIPAL]
