"""The company's people and devices: invites, users (roles, standing, reset links), devices
and their revocation, and the profile document (`/user/{id}`, also `/api/v1/users/{id}`)."""

from __future__ import annotations

from aiohttp import web

from crdt.message import Scalar

from ..errors import Invalid
from ..httpio import base_url, caller, json_response, parse_body, path_uuid
from ..keys import ACCOUNTS
from ..models import (
    DeviceList,
    InviteIn,
    LinkList,
    LinkOut,
    Member,
    MemberList,
    Profile,
    ProfilePatch,
    RoleIn,
)
from ..operations import ADMINS, Header, operation


def _node(request: web.Request) -> str:
    node = request.match_info["node"]
    if len(node) != 16 or any(c not in "0123456789abcdef" for c in node):
        raise Invalid("node: 16 lower-case hex digits")
    return node


# -- invites --------------------------------------------------------------------------------
@operation(
    "POST",
    "/api/v1/invites",
    "Invite someone by email with a role: a single-use link valid 7 days",
    "people",
    status=201,
    body=InviteIn,
    response=LinkOut,
    errors=[400, 409, 422],
    roles=ADMINS,
)
async def create_invite(request: web.Request) -> web.Response:
    body = await parse_body(request, InviteIn)
    made = await request.app[ACCOUNTS].invite(
        caller(request), body.email, body.role, base_url(request)
    )
    return json_response(made, 201)


@operation("GET", "/api/v1/invites", "Pending invites", "people", response=LinkList, roles=ADMINS)
async def list_invites(request: web.Request) -> web.Response:
    return json_response({"items": await request.app[ACCOUNTS].invites(caller(request))})


@operation(
    "DELETE",
    "/api/v1/invites/{id}",
    "Withdraw a pending invite",
    "people",
    status=204,
    errors=[404],
    roles=ADMINS,
)
async def delete_invite(request: web.Request) -> web.Response:
    await request.app[ACCOUNTS].revoke_invite(caller(request), path_uuid(request))
    return web.Response(status=204)


# -- users ----------------------------------------------------------------------------------
@operation(
    "GET", "/api/v1/users", "The company's users", "people", response=MemberList, roles=ADMINS
)
async def list_users(request: web.Request) -> web.Response:
    return json_response({"items": await request.app[ACCOUNTS].users(caller(request))})


@operation(
    "POST",
    "/api/v1/users/{id}/role",
    "Change a user's role; their sessions end",
    "people",
    body=RoleIn,
    response=Member,
    errors=[400, 404, 409, 422],
    roles=ADMINS,
)
async def set_role(request: web.Request) -> web.Response:
    body = await parse_body(request, RoleIn)
    member = await request.app[ACCOUNTS].set_role(caller(request), path_uuid(request), body.role)
    return json_response(member)


@operation(
    "POST",
    "/api/v1/users/{id}/deactivate",
    "Deactivate a user: their sessions end, they can no longer sign in",
    "people",
    response=Member,
    errors=[404, 409],
    roles=ADMINS,
)
async def deactivate_user(request: web.Request) -> web.Response:
    member = await request.app[ACCOUNTS].set_active(caller(request), path_uuid(request), False)
    return json_response(member)


@operation(
    "POST",
    "/api/v1/users/{id}/reactivate",
    "Reactivate a user",
    "people",
    response=Member,
    errors=[404, 409],
    roles=ADMINS,
)
async def reactivate_user(request: web.Request) -> web.Response:
    member = await request.app[ACCOUNTS].set_active(caller(request), path_uuid(request), True)
    return json_response(member)


@operation(
    "POST",
    "/api/v1/users/{id}/reset-link",
    "A single-use password reset link for a user (valid 1 day)",
    "people",
    status=201,
    response=LinkOut,
    errors=[404],
    roles=ADMINS,
)
async def reset_link(request: web.Request) -> web.Response:
    made = await request.app[ACCOUNTS].reset_link(
        caller(request), path_uuid(request), base_url(request)
    )
    return json_response(made, 201)


# -- devices --------------------------------------------------------------------------------
@operation(
    "GET",
    "/api/v1/devices",
    "Devices: every device of the company for an admin, one's own for anyone else",
    "people",
    response=DeviceList,
)
async def list_devices(request: web.Request) -> web.Response:
    return json_response({"items": await request.app[ACCOUNTS].devices(caller(request))})


@operation(
    "POST",
    "/api/v1/devices/{node}/revoke",
    "Revoke a device (its owner or an admin): it can no longer push or pull",
    "people",
    status=204,
    errors=[404, 422],
)
async def revoke_device(request: web.Request) -> web.Response:
    await request.app[ACCOUNTS].revoke_device(caller(request), _node(request))
    return web.Response(status=204)


# -- the profile document -------------------------------------------------------------------
IF_MATCH = Header("If-Match", True, "The profile's version, as its ETag gives it")


async def _get_profile(request: web.Request) -> web.Response:
    found = await request.app[ACCOUNTS].profile(caller(request), path_uuid(request))
    return json_response(found, ETag=f'"{found["version"]}"')


async def _patch_profile(request: web.Request) -> web.Response:
    body = await parse_body(request, ProfilePatch)
    changes: dict[str, Scalar] = body.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise Invalid("fields cannot be set to null")
    found = await request.app[ACCOUNTS].patch_profile(
        caller(request), path_uuid(request), changes, request.headers.get("If-Match")
    )
    return json_response(found, ETag=f'"{found["version"]}"')


def _named(handler: object, name: str) -> object:
    """The same handler under a name of its own (OpenAPI operation ids are unique)."""

    async def named(request: web.Request) -> web.Response:
        return await handler(request)  # type: ignore[operator, no-any-return]

    named.__name__ = name
    return named


for prefix, suffix in (("/user", "user"), ("/api/v1/users", "api_user")):
    operation(
        "GET",
        prefix + "/{id}",
        "A user's profile (name, email, avatar) and its version",
        "people",
        response=Profile,
        errors=[404],
        response_headers={"ETag": "The profile's version"},
    )(_named(_get_profile, f"get_{suffix}_profile"))  # type: ignore[arg-type]
    operation(
        "PATCH",
        prefix + "/{id}",
        "Change a profile (its owner or an admin); a stale If-Match is 409",
        "people",
        body=ProfilePatch,
        response=Profile,
        headers=[IF_MATCH],
        errors=[400, 403, 404, 409, 422, 428],
        response_headers={"ETag": "The new version"},
    )(_named(_patch_profile, f"patch_{suffix}_profile"))  # type: ignore[arg-type]
