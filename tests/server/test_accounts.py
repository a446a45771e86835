"""A company runs Recap without touching the database: sign-up, invites, users (roles,
deactivation, password resets), devices and their revocation, sign-in throttling, the
profile document, and the roles enforced on data, through the real server."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from recap_client import ClientReplica, SyncClient, SyncError
from tests.conftest import MakeServer, MakeTenant, Running, db_fetch, live_url

PASSWORD = "correct horse battery"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None = None,
    body: Any = None,
    **headers: str,
) -> Reply:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = orjson.dumps(body) if body is not None else None
    async with http.request(method, url, data=data, headers=headers) as resp:
        raw = await resp.read()
        parsed = orjson.loads(raw) if raw and resp.content_type == "application/json" else None
        return Reply(resp.status, parsed, resp.headers.copy())


async def email_of(server: Running, user_id: str) -> str:
    rows = await db_fetch(server.db_url, "SELECT email FROM users WHERE id = $1::uuid", user_id)
    return str(rows[0]["email"])


async def login(http: aiohttp.ClientSession, server: Running, email: str, password: str) -> Reply:
    return await call(
        http, "POST", server.url + "/auth/login", body={"email": email, "password": password}
    )


def syncer(server: Running, http: aiohttp.ClientSession, token: str) -> SyncClient:
    return SyncClient(server.url, ClientReplica(), http, token)


# -- sign-up -----------------------------------------------------------------------------------
async def test_a_company_signs_up_and_its_admin_is_signed_in(
    server: Running, http: aiohttp.ClientSession
) -> None:
    body = {
        "company": "Fresh Fields Ltd",
        "name": "Dana Admin",
        "email": "Dana@Fresh.example",
        "password": PASSWORD,
    }
    made = await call(http, "POST", server.url + "/auth/signup", body=body)
    assert made.status == 201, made.body
    user = made.body["user"]
    assert (user["role"], user["email"], user["display_name"]) == (
        "admin",
        "dana@fresh.example",
        "Dana Admin",
    )
    me = await call(http, "GET", server.url + "/auth/me", made.body["token"])
    assert me.status == 200 and me.body["id"] == user["id"]
    tenants = await db_fetch(
        server.db_url, "SELECT name FROM tenants WHERE id = $1::uuid", user["tenant_id"]
    )
    assert [t["name"] for t in tenants] == ["Fresh Fields Ltd"]
    # Its profile is a replicated row from the start (version 1), which devices receive.
    profile = await call(http, "GET", f"{server.url}/user/{user['id']}", made.body["token"])
    assert profile.status == 200 and profile.body["version"] == 1
    assert profile.headers["ETag"] == '"1"'
    device = syncer(server, http, made.body["token"])
    await device.sync()
    assert device.replica.rows("profiles")[user["id"]]["email"] == "dana@fresh.example"
    # The same email again, a weak password, a malformed email: refused.
    again = await call(http, "POST", server.url + "/auth/signup", body=body)
    assert again.status == 409 and again.body["code"] == "email_taken"
    weak = await call(
        http,
        "POST",
        server.url + "/auth/signup",
        body={**body, "email": "x@y.example", "password": "short"},
    )
    assert weak.status == 422
    bad = await call(
        http,
        "POST",
        server.url + "/auth/signup",
        body={**body, "email": "no-at-sign", "password": PASSWORD},
    )
    assert bad.status == 422


async def test_sign_ups_from_one_address_are_throttled(
    server: Running, http: aiohttp.ClientSession
) -> None:
    answers = []
    for i in range(11):
        body = {
            "company": f"C{i}",
            "name": "N",
            "email": f"c{i}@spam.example",
            "password": PASSWORD,
        }
        answers.append(await call(http, "POST", server.url + "/auth/signup", body=body))
    assert [a.status for a in answers] == [201] * 10 + [429]
    assert int(answers[-1].headers["Retry-After"]) >= 1


# -- invites -----------------------------------------------------------------------------------
async def test_an_invite_is_accepted_once_and_becomes_a_user_with_its_role(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    admin = t.token("carla")
    made = await call(
        http,
        "POST",
        f"{server.url}/api/v1/invites",
        admin,
        {"email": "Eve@Acme.example", "role": "manager"},
    )
    assert made.status == 201, made.body
    link = made.body["link"]
    assert "/#/accept-invite/" in link and made.body["email"] == "eve@acme.example"
    secret = link.rsplit("/", 1)[1]
    # Not stored in clear; an event lets an integration send the mail.
    stored = await db_fetch(
        server.db_url, "SELECT token_hash FROM user_tokens WHERE id = $1::uuid", made.body["id"]
    )
    assert secret not in stored[0]["token_hash"]
    events = await db_fetch(
        server.db_url,
        "SELECT payload FROM outbox WHERE event_type = 'user.invited' AND tenant_id = $1::uuid",
        t.id,
    )
    assert orjson.loads(events[0]["payload"])["link"] == link
    pending = await call(http, "GET", f"{server.url}/api/v1/invites", admin)
    assert [i["email"] for i in pending.body["items"]] == ["eve@acme.example"]
    # A rep cannot invite.
    assert (
        await call(
            http, "POST", f"{server.url}/api/v1/invites", t.token("alice"), {"email": "x@y.example"}
        )
    ).status == 403

    accepted = await call(
        http,
        "POST",
        server.url + "/auth/accept-invite",
        body={"token": secret, "name": "Eve", "password": PASSWORD},
    )
    assert accepted.status == 201, accepted.body
    assert accepted.body["user"]["role"] == "manager" and accepted.body["user"]["tenant_id"] == t.id
    again = await call(
        http,
        "POST",
        server.url + "/auth/accept-invite",
        body={"token": secret, "name": "Eve", "password": PASSWORD},
    )
    assert again.status == 404 and again.body["code"] == "link_invalid"
    assert (await login(http, server, "eve@acme.example", PASSWORD)).status == 200
    assert (await call(http, "GET", f"{server.url}/api/v1/invites", admin)).body["items"] == []


async def test_a_withdrawn_or_expired_invite_does_nothing(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    admin = t.token("carla")
    links = []
    for who in ("gone", "late"):
        made = await call(
            http, "POST", f"{server.url}/api/v1/invites", admin, {"email": f"{who}@acme.example"}
        )
        links.append((made.body["id"], made.body["link"].rsplit("/", 1)[1]))
    (gone_id, gone), (late_id, late) = links
    assert (
        await call(http, "DELETE", f"{server.url}/api/v1/invites/{gone_id}", admin)
    ).status == 204
    conn_rows = await db_fetch(
        server.db_url,
        "UPDATE user_tokens SET expires_at = now() - interval '1 s' "
        "WHERE id = $1::uuid RETURNING 1",
        late_id,
    )
    assert conn_rows
    for secret in (gone, late, "x" * 43):
        answer = await call(
            http,
            "POST",
            server.url + "/auth/accept-invite",
            body={"token": secret, "name": "X", "password": PASSWORD},
        )
        assert answer.status == 404 and answer.body["code"] == "link_invalid"
    users = await db_fetch(
        server.db_url, "SELECT count(*) AS n FROM users WHERE tenant_id = $1::uuid", t.id
    )
    assert users[0]["n"] == 3


# -- users -------------------------------------------------------------------------------------
async def test_a_role_change_ends_the_user_s_sessions_and_the_next_sign_in_has_the_new_role(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    admin, alice = t.token("carla"), t.token("alice")
    listed = await call(http, "GET", f"{server.url}/api/v1/users", admin)
    assert {u["display_name"] for u in listed.body["items"]} == {"Alice", "Bob", "Carla"}
    promoted = await call(
        http,
        "POST",
        f"{server.url}/api/v1/users/{t.user_id('alice')}/role",
        admin,
        {"role": "admin"},
    )
    assert promoted.status == 200 and promoted.body["role"] == "admin"
    refused = await call(http, "GET", f"{server.url}/api/v1/users", alice)
    assert refused.status == 401 and refused.body["code"] == "session_ended"
    again = await login(http, server, await email_of(server, t.user_id("alice")), "pw-alice")
    assert again.body["user"]["role"] == "admin"
    assert (
        await call(http, "GET", f"{server.url}/api/v1/users", again.body["token"])
    ).status == 200


async def test_a_deactivated_user_is_refused_at_once_and_cannot_sign_in(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    admin, bob = t.token("carla"), t.token("bob")
    device = syncer(server, http, bob)
    await device.sync()
    off = await call(
        http, "POST", f"{server.url}/api/v1/users/{t.user_id('bob')}/deactivate", admin
    )
    assert off.status == 200 and off.body["active"] is False
    with pytest.raises(SyncError) as refused:
        await device.sync()
    assert refused.value.status == 403 and refused.value.code == "account_disabled"
    email = await email_of(server, t.user_id("bob"))
    signin = await login(http, server, email, "pw-bob")
    assert signin.status == 403 and signin.body["code"] == "account_disabled"
    on = await call(http, "POST", f"{server.url}/api/v1/users/{t.user_id('bob')}/reactivate", admin)
    assert on.status == 200 and on.body["active"] is True
    assert (await login(http, server, email, "pw-bob")).status == 200


async def test_an_ended_session_s_live_socket_is_told_and_closed_at_once(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """Not at the device's next request: every process closes the live sockets of a session
    that ended, saying why, the socket on another process than the one that ended it too."""
    here, there = await make_server(), await make_server()
    t = await make_tenant()
    admin = t.token("carla")
    bob_phone, alice = t.token("bob"), t.token("alice")
    second = await login(http, here, await email_of(here, t.user_id("bob")), "pw-bob")
    bob_laptop = second.body["token"]

    async def opened(server: Running, token: str) -> aiohttp.ClientWebSocketResponse:
        ws = await http.ws_connect(await live_url(http, server.url, token))
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        return ws

    async def told(ws: aiohttp.ClientWebSocketResponse) -> str:
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"closed without a word: {msg}")
            data = orjson.loads(msg.data)
            if data["type"] == "ended":
                closing = await ws.receive(timeout=5)
                assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                return str(data["code"])

    phone, laptop, alices = (
        await opened(there, bob_phone),
        await opened(here, bob_laptop),
        await opened(there, alice),
    )
    # Signing out ends one session: its socket only.
    assert (await call(http, "POST", here.url + "/auth/logout", bob_phone)).status == 204
    assert await told(phone) == "session_ended"
    # Deactivating bob ends the rest of his, on every process.
    off = f"{here.url}/api/v1/users/{t.user_id('bob')}/deactivate"
    assert (await call(http, "POST", off, admin)).status == 200
    assert await told(laptop) == "account_disabled"
    # Alice's socket carries on.
    await alices.send_str("ping")
    assert (await alices.receive_json(timeout=5))["type"] == "pong"
    for ws in (phone, laptop, alices):
        await ws.close()


async def test_the_last_active_admin_stays(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    admin, me = t.token("carla"), t.user_id("carla")
    for path, body in ((f"{me}/role", {"role": "rep"}), (f"{me}/deactivate", None)):
        answer = await call(http, "POST", f"{server.url}/api/v1/users/{path}", admin, body)
        assert answer.status == 409 and answer.body["code"] == "last_admin"
    # With a second admin, the first may step down.
    await call(
        http, "POST", f"{server.url}/api/v1/users/{t.user_id('bob')}/role", admin, {"role": "admin"}
    )
    assert (
        await call(http, "POST", f"{server.url}/api/v1/users/{me}/role", admin, {"role": "rep"})
    ).status == 200


async def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    admin, alice = t.token("carla"), t.token("alice")
    made = await call(
        http, "POST", f"{server.url}/api/v1/users/{t.user_id('alice')}/reset-link", admin
    )
    assert made.status == 201 and "/#/reset-password/" in made.body["link"]
    secret = made.body["link"].rsplit("/", 1)[1]
    done = await call(
        http,
        "POST",
        server.url + "/auth/reset-password",
        body={"token": secret, "password": PASSWORD},
    )
    assert done.status == 204
    ended = await call(http, "GET", server.url + "/auth/me", alice)
    assert ended.status == 401 and ended.body["code"] == "session_ended"
    email = await email_of(server, t.user_id("alice"))
    assert (await login(http, server, email, "pw-alice")).status == 401
    assert (await login(http, server, email, PASSWORD)).status == 200
    twice = await call(
        http,
        "POST",
        server.url + "/auth/reset-password",
        body={"token": secret, "password": PASSWORD},
    )
    assert twice.status == 404


async def test_changing_one_s_password_ends_the_other_sessions(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    email = await email_of(server, t.user_id("bob"))
    other = (await login(http, server, email, "pw-bob")).body["token"]
    mine = t.token("bob")
    wrong = await call(
        http,
        "POST",
        server.url + "/auth/password",
        mine,
        {"current_password": "nope", "new_password": PASSWORD},
    )
    assert wrong.status == 403
    changed = await call(
        http,
        "POST",
        server.url + "/auth/password",
        mine,
        {"current_password": "pw-bob", "new_password": PASSWORD},
    )
    assert changed.status == 204
    assert (await call(http, "GET", server.url + "/auth/me", mine)).status == 200
    assert (await call(http, "GET", server.url + "/auth/me", other)).status == 401
    assert (await call(http, "POST", server.url + "/auth/logout", mine)).status == 204
    assert (await call(http, "GET", server.url + "/auth/me", mine)).body["code"] == "session_ended"


# -- devices -----------------------------------------------------------------------------------
async def test_a_revoked_device_can_no_longer_push_or_pull_and_others_carry_on(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    tablet = syncer(server, http, t.token("alice"))
    phone_token = (
        await login(http, server, await email_of(server, t.user_id("alice")), "pw-alice")
    ).body["token"]
    phone = syncer(server, http, phone_token)
    bob = syncer(server, http, t.token("bob"))
    for device in (tablet, phone, bob):
        await device.sync()
    mine = await call(http, "GET", f"{server.url}/api/v1/devices", t.token("alice"))
    assert {d["node"] for d in mine.body["items"]} == {tablet.replica.node, phone.replica.node}
    everyone = await call(http, "GET", f"{server.url}/api/v1/devices", t.token("carla"))
    assert {d["node"] for d in everyone.body["items"]} >= {tablet.replica.node, bob.replica.node}
    assert all(d["user_agent"] for d in everyone.body["items"])
    # Alice cannot revoke Bob's device; she revokes her lost tablet.
    assert (
        await call(
            http, "POST", f"{server.url}/api/v1/devices/{bob.replica.node}/revoke", t.token("alice")
        )
    ).status == 404
    assert (
        await call(
            http, "POST", f"{server.url}/api/v1/devices/{tablet.replica.node}/revoke", phone_token
        )
    ).status == 204
    with pytest.raises(SyncError) as refused:
        await tablet.sync()
    assert refused.value.status == 403 and refused.value.code == "device_revoked"
    # Its token is refused everywhere, its node even under another session.
    assert (await call(http, "GET", server.url + "/snapshot", t.token("alice"))).body[
        "code"
    ] == "device_revoked"
    hijack = await call(
        http, "POST", server.url + "/sync", phone_token, {"node": tablet.replica.node}
    )
    assert hijack.status == 403 and hijack.body["code"] == "device_revoked"
    await phone.sync()
    await bob.sync()
    listed = await call(http, "GET", f"{server.url}/api/v1/devices", phone_token)
    revoked = {d["node"]: d["revoked_at"] for d in listed.body["items"]}
    assert revoked[tablet.replica.node] is not None and revoked[phone.replica.node] is None


# -- sign-in throttling ------------------------------------------------------------------------
async def test_ten_failures_throttle_an_account_and_an_address_alike(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    email = await email_of(server, t.user_id("alice"))
    answers = [await login(http, server, email, f"guess-{i}") for i in range(10)]
    assert {a.status for a in answers} == {401}
    blocked = await login(http, server, email, "pw-alice")  # even the right password
    assert blocked.status == 429 and blocked.body["code"] == "rate_limited"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 15 * 60
    # An unknown account looks the same; the address is blocked too after its failures.
    unknown = await login(http, server, "nobody@nowhere.example", "x")
    assert unknown.status == 429 and unknown.body["code"] == blocked.body["code"]
    # The same message but for the wait (whole seconds: the two may round apart).
    said = re.compile(r"too many failed sign-ins; retry in \d+ s")
    assert said.fullmatch(unknown.body["message"]) and said.fullmatch(blocked.body["message"])
    other = await login(http, server, await email_of(server, t.user_id("bob")), "pw-bob")
    assert other.status == 429  # the same client address


async def test_an_unknown_account_is_answered_like_a_wrong_password(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    wrong = await login(http, server, await email_of(server, t.user_id("alice")), "nope")
    unknown = await login(http, server, "nobody@nowhere.example", "nope")
    assert (
        (wrong.status, wrong.body)
        == (unknown.status, unknown.body)
        == (
            401,
            {"code": "bad_credentials", "message": "wrong email or password"},
        )
    )


# -- tokens ------------------------------------------------------------------------------------
async def test_a_token_goes_only_in_the_header(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    token = t.token("alice")
    assert (await call(http, "GET", f"{server.url}/auth/me?token={token}")).status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with http.ws_connect(f"{server.url}/live?token={token}"):
            pass
    assert refused.value.status == 401
    async with http.ws_connect(await live_url(http, server.url, token)) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"


# -- the profile document ----------------------------------------------------------------------
async def test_the_profile_has_a_version_and_refuses_a_stale_if_match(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, admin, bob = t.token("alice"), t.token("carla"), t.token("bob")
    url = f"{server.url}/user/{t.user_id('alice')}"
    first = await call(http, "GET", url, alice)
    version = first.body["version"]
    assert first.headers["ETag"] == f'"{version}"'
    assert (await call(http, "PATCH", url, alice, {"name": "Alice M."})).status == 428
    renamed = await call(
        http, "PATCH", url, alice, {"name": "Alice M."}, **{"If-Match": f'"{version}"'}
    )
    assert renamed.status == 200 and renamed.body["version"] == version + 1
    assert renamed.body["name"] == "Alice M."
    stale = await call(
        http, "PATCH", url, alice, {"name": "Alice X"}, **{"If-Match": f'"{version}"'}
    )
    assert stale.status == 409 and stale.body["code"] == "conflict"
    assert stale.body["message"] == "stale version" and stale.body["current_version"] == version + 1
    # Only the owner or an admin.
    other = await call(
        http, "PATCH", url, bob, {"name": "Bob was here"}, **{"If-Match": f'"{version + 1}"'}
    )
    assert other.status == 403 and other.body["code"] == "forbidden_write"
    by_admin = await call(
        http,
        "PATCH",
        f"{server.url}/api/v1/users/{t.user_id('alice')}",
        admin,
        {"avatar": "data:image/png;base64,AA=="},
        **{"If-Match": f'"{version + 1}"'},
    )
    assert by_admin.status == 200 and by_admin.body["version"] == version + 2
    # A device's edit of the profile is a change too.
    device = syncer(server, http, alice)
    await device.sync()
    device.replica.edit_field("profiles", t.user_id("alice"), "name", "Alice from the tablet")
    await device.sync()
    after = await call(http, "GET", url, alice)
    assert after.body["version"] == version + 3 and after.body["name"] == "Alice from the tablet"


async def test_the_profile_email_is_the_login_email(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice = t.token("alice")
    old = await email_of(server, t.user_id("alice"))
    url = f"{server.url}/user/{t.user_id('alice')}"
    version = (await call(http, "GET", url, alice)).body["version"]
    taken = await call(
        http,
        "PATCH",
        url,
        alice,
        {"email": await email_of(server, t.user_id("bob"))},
        **{"If-Match": str(version)},
    )
    assert taken.status == 409 and taken.body["code"] == "email_taken"
    invalid = await call(
        http, "PATCH", url, alice, {"email": "not an email"}, **{"If-Match": str(version)}
    )
    assert invalid.status == 422
    moved = await call(
        http, "PATCH", url, alice, {"email": "Alice.New@Acme.example"}, **{"If-Match": str(version)}
    )
    assert moved.status == 200 and moved.body["email"] == "alice.new@acme.example"
    assert (await login(http, server, "alice.new@acme.example", "pw-alice")).status == 200
    assert (await login(http, server, old, "pw-alice")).status == 401
    # Offline, through a device: the same rule.
    device = syncer(server, http, alice)
    await device.sync()
    device.replica.edit_field(
        "profiles", t.user_id("alice"), "email", await email_of(server, t.user_id("bob"))
    )
    with pytest.raises(SyncError) as refused:
        await device.sync()
    assert refused.value.status == 409 and refused.value.code == "email_taken"
    assert refused.value.body["index"] == 0


async def test_a_profile_email_from_a_device_signs_in_whatever_its_case(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """Sign-in compares lower-case: an email edited offline in capitals still signs in, and
    one differing from another account's only by case is that account's (409)."""
    t = await make_tenant()
    device = syncer(server, http, t.token("bob"))
    await device.sync()
    device.replica.edit_field("profiles", t.user_id("bob"), "email", "Bob.Mixed@Acme.Example")
    await device.sync()
    assert await email_of(server, t.user_id("bob")) == "bob.mixed@acme.example"
    for typed in ("Bob.Mixed@Acme.Example", "bob.mixed@acme.example"):
        assert (await login(http, server, typed, "pw-bob")).status == 200, typed
    alice = syncer(server, http, t.token("alice"))
    await alice.sync()
    alice.replica.edit_field("profiles", t.user_id("alice"), "email", "BOB.MIXED@acme.example")
    with pytest.raises(SyncError) as refused:
        await alice.sync()
    assert refused.value.status == 409 and refused.value.code == "email_taken"


# -- roles on data -----------------------------------------------------------------------------
async def test_what_each_role_may_write_through_sync(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant(managers=("maya",))
    order = "0190a1b2-0000-7000-8000-0000000000a1"
    partner = "0190a1b2-0000-7000-8000-0000000000b1"
    alice = syncer(server, http, t.token("alice"))
    alice.replica.edit_row(
        "pre_orders", order, {"status": "pending", "delivery_date": "2026-12-02", "tombstone": 0}
    )
    alice.replica.edit_row("partners", partner, {"name": "Met offline", "tombstone": 0})
    await alice.sync()

    async def push(name: str, dataset: str, row: str, column: str, value: Any) -> Reply:
        device = ClientReplica()
        message = device.edit_field(dataset, row, column, value)
        return await call(
            http,
            "POST",
            server.url + "/sync",
            t.token(name),
            {"node": device.node, "messages": [message.to_json()]},
        )

    before = await db_fetch(server.db_url, "SELECT count(*) AS n FROM messages")
    cases = [
        ("alice", "profiles", t.user_id("bob"), "name", "Not Bob"),
        ("alice", "profiles", t.user_id("alice"), "tombstone", 1),
        ("alice", "partners", partner, "tombstone", 1),
        ("maya", "pre_orders", order, "delivery_date", "2026-12-09"),
        ("maya", "pre_order_flows", order, "quantity", 5),
        ("maya", "partners", partner, "name", "Renamed"),
    ]
    for case in cases:
        refused = await push(*case)
        assert refused.status == 403, case
        assert refused.body["code"] == "forbidden_write" and refused.body["index"] == 0, case
    assert await db_fetch(server.db_url, "SELECT count(*) AS n FROM messages") == before
    allowed = [
        ("alice", "profiles", t.user_id("alice"), "name", "Alice A."),
        ("alice", "partners", "0190a1b2-0000-7000-8000-0000000000b2", "name", "New partner"),
        ("maya", "pre_orders", order, "status", "confirmed"),
        ("maya", "profiles", t.user_id("maya"), "name", "Maya M."),
        ("carla", "partners", partner, "tombstone", 1),
        ("carla", "profiles", t.user_id("bob"), "name", "Bob B."),
    ]
    for case in allowed:
        assert (await push(*case)).status == 200, case


async def test_what_each_role_may_write_through_rest(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant(managers=("maya",))
    admin = t.token("carla")
    partner = (
        await call(http, "POST", f"{server.url}/api/v1/partners", admin, {"name": "P"})
    ).body["id"]
    create = {"partner_id": partner, "delivery_date": "2026-12-03"}
    by_manager = await call(
        http,
        "POST",
        f"{server.url}/api/v1/preorders",
        t.token("maya"),
        create,
        **{"Idempotency-Key": "m1"},
    )
    assert by_manager.status == 403 and by_manager.body["code"] == "forbidden_write"
    order = await call(
        http,
        "POST",
        f"{server.url}/api/v1/preorders",
        t.token("alice"),
        create,
        **{"Idempotency-Key": "a1"},
    )
    assert order.status == 201
    url = f"{server.url}/api/v1/preorders/{order.body['id']}"
    moved = await call(
        http,
        "PATCH",
        url,
        t.token("maya"),
        {"delivery_date": "2026-12-09"},
        **{"If-Match": order.body["etag"]},
    )
    assert moved.status == 403 and moved.body["code"] == "forbidden_write"
    confirmed = await call(
        http,
        "PATCH",
        url,
        t.token("maya"),
        {"status": "confirmed"},
        **{"If-Match": order.body["etag"]},
    )
    assert confirmed.status == 200 and confirmed.body["status"] == "confirmed"
    assert (
        await call(http, "POST", f"{server.url}/api/v1/partners", t.token("alice"), {"name": "Q"})
    ).status == 403
