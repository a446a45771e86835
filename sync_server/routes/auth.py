"""Signing up, in and out, invites and password resets, the WebSocket ticket (/auth/...)."""

from __future__ import annotations

from aiohttp import web

from ..errors import Unauthorized
from ..httpio import caller, client_address, json_response, parse_body
from ..keys import ACCOUNTS, POOL
from ..models import (
    AcceptInviteIn,
    LoginIn,
    LoginOut,
    PasswordChangeIn,
    ResetPasswordIn,
    SignupIn,
    TicketOut,
    UserOut,
)
from ..operations import PUBLIC, operation
from ..storage import users


def _agent(request: web.Request) -> str | None:
    return request.headers.get("User-Agent")


@operation(
    "POST",
    "/auth/signup",
    "Sign a company up: its tenant and first admin, signed in",
    "auth",
    status=201,
    body=SignupIn,
    response=LoginOut,
    errors=[400, 409, 422, 429],
    roles=PUBLIC,
)
async def signup(request: web.Request) -> web.Response:
    body = await parse_body(request, SignupIn)
    answer = await request.app[ACCOUNTS].signup(
        body.company, body.name, body.email, body.password, client_address(request), _agent(request)
    )
    return json_response(answer, 201)


@operation(
    "POST",
    "/auth/login",
    "Sign in: a bearer token (throttled after repeated failures)",
    "auth",
    body=LoginIn,
    response=LoginOut,
    errors=[400, 401, 403, 422, 429],
    roles=PUBLIC,
)
async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginIn)
    answer = await request.app[ACCOUNTS].login(
        body.email, body.password, client_address(request), _agent(request)
    )
    return json_response(answer)


@operation("POST", "/auth/logout", "End this session", "auth", status=204)
async def logout(request: web.Request) -> web.Response:
    await request.app[ACCOUNTS].logout(caller(request))
    return web.Response(status=204)


@operation(
    "POST",
    "/auth/ticket",
    "A short-lived ticket for the live WebSocket (GET /live?ticket=)",
    "auth",
    response=TicketOut,
)
async def ticket(request: web.Request) -> web.Response:
    return json_response(request.app[ACCOUNTS].ticket(caller(request)))


@operation("GET", "/auth/me", "The signed-in user", "auth", response=UserOut)
async def me(request: web.Request) -> web.Response:
    who = caller(request)
    async with request.app[POOL].acquire() as conn:
        user = await users.by_id(conn, who.tenant_id, who.user_id)
    if user is None:
        raise Unauthorized("the token's user no longer exists")
    keys = ("id", "tenant_id", "tenant_slug", "email", "display_name", "role")
    return json_response({k: user[k] for k in keys})


@operation(
    "POST",
    "/auth/accept-invite",
    "Accept an invite: name and password, signed in",
    "auth",
    status=201,
    body=AcceptInviteIn,
    response=LoginOut,
    errors=[400, 404, 409, 422],
    roles=PUBLIC,
)
async def accept_invite(request: web.Request) -> web.Response:
    body = await parse_body(request, AcceptInviteIn)
    answer = await request.app[ACCOUNTS].accept_invite(
        body.token, body.name, body.password, _agent(request)
    )
    return json_response(answer, 201)


@operation(
    "POST",
    "/auth/reset-password",
    "Set a new password from a reset link; every session of the user ends",
    "auth",
    status=204,
    body=ResetPasswordIn,
    errors=[400, 404, 422],
    roles=PUBLIC,
)
async def reset_password(request: web.Request) -> web.Response:
    body = await parse_body(request, ResetPasswordIn)
    await request.app[ACCOUNTS].reset_password(body.token, body.password)
    return web.Response(status=204)


@operation(
    "POST",
    "/auth/password",
    "Change your password; your other sessions end",
    "auth",
    status=204,
    body=PasswordChangeIn,
    errors=[400, 403, 422],
)
async def change_password(request: web.Request) -> web.Response:
    body = await parse_body(request, PasswordChangeIn)
    await request.app[ACCOUNTS].change_password(
        caller(request), body.current_password, body.new_password
    )
    return web.Response(status=204)
