"""The authorization matrix: every route the server has, as every kind of caller (anonymous,
rep, manager, admin, another tenant's admin, a signed-out session, a revoked device, a
deactivated user), answered as the route's declaration says (`operations.py`)."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import orjson

from recap_client import ClientReplica, SyncClient
from sync_server.operations import OPERATIONS, PUBLIC, Operation
from tests.conftest import MakeTenant, Running, db_fetch

#: A body each operation's validation refuses (so an allowed caller changes nothing).
NOT_A_BODY: Any = {"certainly": "not this operation's body"}


async def login(http: aiohttp.ClientSession, server: Running, user_id: str, password: str) -> str:
    rows = await db_fetch(server.db_url, "SELECT email FROM users WHERE id = $1::uuid", user_id)
    async with http.post(
        server.url + "/auth/login", json={"email": rows[0]["email"], "password": password}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["token"])


def nowhere(path: str) -> str:
    """The path with ids that name nothing."""
    for name in ("id", "flow_id"):
        path = path.replace("{" + name + "}", str(uuid.uuid4()))
    return path.replace("{node}", "0" * 16)


async def probe(
    http: aiohttp.ClientSession, server: Running, op: Operation, path: str, token: str | None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if op.ticket:  # the WebSocket: a ticket asked for with the token, then the handshake
        async with http.post(server.url + "/auth/ticket", headers=headers) as resp:
            if resp.status != 200:
                return resp.status, await resp.json()
            ticket = (await resp.json())["ticket"]
        try:
            async with http.ws_connect(f"{server.url}{path}?ticket={ticket}") as ws:
                return 101, await ws.receive_json(timeout=5)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status, None
    body = orjson.dumps(NOT_A_BODY) if op.method in ("POST", "PUT", "PATCH") else None
    async with http.request(op.method, server.url + path, data=body, headers=headers) as resp:
        raw = await resp.read()
        parsed = orjson.loads(raw) if resp.content_type == "application/json" and raw else None
        return resp.status, parsed


async def test_every_route_as_every_kind_of_caller(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    a = await make_tenant(
        "A", reps=("alice", "bob", "dora"), admins=("carla", "erin"), managers=("maya",)
    )
    b = await make_tenant("B", reps=(), admins=("zed",))
    # Tenant A's things, to name in paths.
    order_body = {"partner_id": str(uuid.uuid4()), "delivery_date": "2026-12-01"}
    partner = await (
        await http.post(
            server.url + "/api/v1/partners",
            json={"name": "P"},
            headers={"Authorization": f"Bearer {a.token('carla')}"},
        )
    ).json()
    order_body["partner_id"] = partner["id"]
    async with http.post(
        server.url + "/api/v1/preorders",
        json={**order_body, "flows": []},
        headers={"Authorization": f"Bearer {a.token('alice')}", "Idempotency-Key": "k"},
    ) as resp:
        order = await resp.json()
    async with http.post(
        f"{server.url}/api/v1/preorders/{order['id']}/flows",
        json={
            "product_id": (
                await (
                    await http.post(
                        server.url + "/api/v1/products",
                        json={"name": "Q"},
                        headers={"Authorization": f"Bearer {a.token('carla')}"},
                    )
                ).json()
            )["id"],
            "quantity": 1,
        },
        headers={"Authorization": f"Bearer {a.token('alice')}"},
    ) as resp:
        flow = (await resp.json())["flows"][0]["id"]
    async with http.post(
        server.url + "/api/v1/invites",
        json={"email": "i@a.example"},
        headers={"Authorization": f"Bearer {a.token('carla')}"},
    ) as resp:
        invite = (await resp.json())["id"]
    device = SyncClient(server.url, ClientReplica(), http, a.token("alice"))
    await device.sync()
    ids = {"id": order["id"], "flow_id": flow, "node": device.replica.node}

    def concrete(path: str) -> str:
        if path.startswith("/api/v1/invites/"):
            path = path.replace("{id}", invite)
        if path.startswith(("/api/v1/users/", "/user/")):
            path = path.replace("{id}", a.user_id("alice"))
        for name, value in ids.items():
            path = path.replace("{" + name + "}", value)
        return path

    # The callers whose standing ended: signed out, device revoked, deactivated.
    signed_out = await login(http, server, a.user_id("bob"), "pw-bob")
    async with http.post(
        server.url + "/auth/logout", headers={"Authorization": f"Bearer {signed_out}"}
    ) as resp:
        assert resp.status == 204
    lost = SyncClient(server.url, ClientReplica(), http, a.token("dora"))
    await lost.sync()
    async with http.post(
        f"{server.url}/api/v1/devices/{lost.replica.node}/revoke",
        headers={"Authorization": f"Bearer {a.token('carla')}"},
    ) as resp:
        assert resp.status == 204
    async with http.post(
        f"{server.url}/api/v1/users/{a.user_id('erin')}/deactivate",
        headers={"Authorization": f"Bearer {a.token('carla')}"},
    ) as resp:
        assert resp.status == 200

    callers: dict[str, tuple[str | None, str | None]] = {  # name -> (token, role in A)
        "anonymous": (None, None),
        "rep": (a.token("alice"), "rep"),
        "manager": (a.token("maya"), "manager"),
        "admin": (a.token("carla"), "admin"),
        "other tenant's admin": (b.token("zed"), "other"),
        "signed-out session": (signed_out, "ended"),
        "revoked device": (a.token("dora"), "revoked"),
        "deactivated user": (a.token("erin"), "deactivated"),
    }
    checked = 0
    problems = []
    for op in OPERATIONS:
        if op.path == "/auth/logout":
            continue  # it ends the caller's session: tested on its own (test_accounts.py)
        # What an allowed caller would change (a delete, an action without a body) is aimed
        # at nothing: the answer still says whether the caller got past the access check.
        harmless = op.method == "DELETE" or (op.method == "POST" and op.body is None)
        for name, (token, role) in callers.items():
            real = not (harmless and role in ("rep", "manager", "admin"))
            path = concrete(op.path) if real else nowhere(op.path)
            status, body = await probe(http, server, op, path, token)
            code = body.get("code") if isinstance(body, dict) else None
            checked += 1
            if op.roles == PUBLIC:
                expected_ok = status not in (401, 403)
            elif role is None:
                expected_ok = status == 401 and code == "unauthorized"
            elif role == "ended":
                expected_ok = status == 401 and code == "session_ended"
            elif role == "revoked":
                expected_ok = status == 403 and code == "device_revoked"
            elif role == "deactivated":
                expected_ok = status == 403 and code == "account_disabled"
            elif role == "other":
                # B's admin passes the role check, and finds nothing of A's.
                named = any("{" + n + "}" in op.path for n in ("id", "flow_id", "node"))
                expected_ok = status in (404, 422) if named else status not in (401, 403)
            elif role not in op.roles:
                expected_ok = status == 403 and code == "forbidden"
            else:
                expected_ok = status not in (401, 500) and code not in (
                    "forbidden",
                    "device_revoked",
                    "account_disabled",
                    "unauthorized",
                )
            if not expected_ok:
                problems.append(f"{op.method} {op.path} as {name}: {status} {body}")
    assert problems == []
    assert checked >= 8 * 40
