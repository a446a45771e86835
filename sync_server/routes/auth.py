"""POST /auth/login and GET /auth/me."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import ValidationError

from ..api.models import LoginIn, LoginOut, UserOut
from ..api.registry import operation
from ..app import POOL, SETTINGS, json_response, principal
from ..auth import issue_token, verify_password
from ..errors import ApiError, invalid
from .sync import read_json

# Checked against when the email is unknown, so both failures cost one scrypt.
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@operation(
    "POST",
    "/auth/login",
    "Sign in: a bearer token",
    "auth",
    body=LoginIn,
    response=LoginOut,
    errors=[400, 401, 422],
    auth=False,
)
async def login(request: web.Request) -> web.Response:
    try:
        body = LoginIn.model_validate(await read_json(request))
    except ValidationError as exc:
        raise invalid(f"email and password are required: {exc.errors()[0]['msg']}") from None
    async with request.app[POOL].acquire() as conn:
        user = await conn.fetchrow(
            """SELECT id::text AS id, tenant_id::text AS tenant_id, email, display_name,
                      password_hash, role FROM users WHERE email = $1""",
            body.email.strip().lower(),
        )
    stored = user["password_hash"] if user else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, body.password, stored)
    if user is None or not ok:
        raise ApiError(401, "bad_credentials", "wrong email or password")
    settings = request.app[SETTINGS]
    token = issue_token(
        settings.token_secret, user["id"], user["tenant_id"], user["role"], settings.token_ttl_s
    )
    return json_response(
        {
            "token": token,
            "expires_in": settings.token_ttl_s,
            "user": {k: user[k] for k in ("id", "tenant_id", "email", "display_name", "role")},
        }
    )


@operation("GET", "/auth/me", "The signed-in user", "auth", response=UserOut)
async def me(request: web.Request) -> web.Response:
    who = principal(request)
    async with request.app[POOL].acquire() as conn:
        user = await conn.fetchrow(
            """SELECT id::text AS id, tenant_id::text AS tenant_id, email, display_name, role
               FROM users WHERE id = $1 AND tenant_id = $2""",
            who.user_id,
            who.tenant_id,
        )
    if user is None:
        raise ApiError(401, "unauthorized", "the token's user no longer exists")
    return json_response(dict(user))
