"""POST /auth/login and GET /auth/me."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import ValidationError

from ..auth import issue_token, verify_password
from ..errors import Invalid, Unauthorized
from ..httpio import caller, json_response, read_json
from ..keys import POOL, SETTINGS
from ..models import LoginIn, LoginOut, UserOut
from ..operations import PUBLIC, operation
from ..storage import users

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
    roles=PUBLIC,
)
async def login(request: web.Request) -> web.Response:
    try:
        body = LoginIn.model_validate(await read_json(request))
    except ValidationError as exc:
        raise Invalid(f"email and password are required: {exc.errors()[0]['msg']}") from None
    async with request.app[POOL].acquire() as conn:
        user = await users.by_email(conn, body.email.strip().lower())
    stored = user["password_hash"] if user else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, body.password, stored)
    if user is None or not ok:
        raise Unauthorized("wrong email or password", code="bad_credentials")
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
    who = caller(request)
    async with request.app[POOL].acquire() as conn:
        user = await users.by_id(conn, who.tenant_id, who.user_id)
    if user is None:
        raise Unauthorized("the token's user no longer exists")
    return json_response(dict(user))
