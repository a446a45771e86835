"""HTTP in and out for every handler: read a JSON body or query into a pydantic model,
authenticate the caller, answer JSON. Failures raise the error tree (`errors.py`), which the
middleware turns into `{code, message}` answers."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from .auth import Principal, Role, read_token
from .errors import BadRequest, Forbidden, Invalid, NotFound, RateLimited, Unauthorized
from .keys import LIMITER, PRINCIPAL, SETTINGS

M = TypeVar("M", bound=BaseModel)


def json_response(data: object, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def describe(exc: ValidationError) -> str:
    """The first validation error, as `where: what`."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


async def read_json(request: web.Request) -> Any:
    body = await request.read()
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


def path_uuid(request: web.Request, name: str = "id") -> str:
    raw = request.match_info[name]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFound(f"no such {name}: not a UUID") from None


def authenticate(request: web.Request, roles: Collection[Role]) -> Principal:
    """The caller, from the bearer token (or `?token=`, for the WebSocket, whose handshake
    cannot carry headers from a browser); 401 without a valid one, 403 if its role is not
    among `roles`, 429 once it is over its rate. Called once per request, by the guard
    the operation registry puts around every handler that requires a user."""
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
    found = read_token(request.app[SETTINGS].token_secret, token) if token else None
    if found is None:
        raise Unauthorized()
    if found.role not in roles:
        raise Forbidden(f"this endpoint requires the {' or '.join(roles)} role")
    wait = request.app[LIMITER].allow(found.user_id)
    if wait:
        raise RateLimited(f"too many requests; retry in {wait:.2f} s", retry_after_s=round(wait, 2))
    return found


def caller(request: web.Request) -> Principal:
    """The authenticated caller of a guarded operation."""
    return request[PRINCIPAL]
