"""Seed 004, the Orders API (`../shared/seeds/004_*.txt`), by its own requests: the paths,
headers and camelCase bodies the document shows, a real bearer token from `POST
/auth/login` in place of its fake one, and its `tenantId` the caller's tenant slug (from
the login answer). Its test list: idempotent create, optimistic locking, close with its
outbox row in the same transaction, keyset pages of 15 orders; and its error model."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from tests.conftest import MakeTenant, Running, Tenant, db_fetch


class Caller:
    """One signed-in caller of the document's requests."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.token = http, base, token

    async def call(
        self, method: str, path: str, body: Any = None, **headers: str
    ) -> tuple[int, Any, CIMultiDict[str]]:
        sent = {"Authorization": f"Bearer {self.token}"}
        sent.update({k.replace("_", "-"): v for k, v in headers.items()})
        async with self.http.request(method, self.base + path, json=body, headers=sent) as r:
            data = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, data, r.headers.copy()

    async def create(self, slug: str, key: str | None = None) -> dict[str, Any]:
        status, body, _ = await self.call(
            "POST", "/orders", {"tenantId": slug}, Idempotency_Key=key or str(uuid.uuid4())
        )
        assert status == 201, body
        return dict(body)


async def sign_in(
    server: Running, http: aiohttp.ClientSession, t: Tenant, who: str = "alice"
) -> tuple[Caller, str]:
    """The caller and its tenant slug, from a real `POST /auth/login` (make_tenant's
    credentials: `<name>-<suffix>@example.com`, `pw-<name>`)."""
    async with http.get(
        server.url + "/auth/me", headers={"Authorization": f"Bearer {t.token(who)}"}
    ) as r:
        email = (await r.json())["email"]
    async with http.post(
        server.url + "/auth/login", json={"email": email, "password": "pw-" + who}
    ) as r:
        assert r.status == 200, await r.text()
        answer = await r.json()
    return Caller(http, server.url, answer["token"]), answer["user"]["tenant_slug"]


def is_error(body: Any, code: str) -> None:
    assert isinstance(body, dict) and body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body


async def test_create_is_idempotent_per_key_and_body(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant("Alpha Foods")
    alice, slug = await sign_in(server, http, t)
    assert slug == "alpha-foods"
    status, first, headers = await alice.call(
        "POST", "/orders", {"tenantId": slug}, Idempotency_Key="k-1"
    )
    assert status == 201, first
    assert set(first) == {"id", "tenantId", "status", "version", "createdAt"}
    assert (first["tenantId"], first["status"], first["version"]) == (slug, "draft", 1)
    assert headers["ETag"] == '"1"'

    status, again, headers = await alice.call(
        "POST", "/orders", {"tenantId": slug}, Idempotency_Key="k-1"
    )
    assert status == 200 and again == first
    assert headers["Idempotent-Replayed"] == "true"

    # The document's own "same key + different body": another tenantId under the same key
    # is 409 conflict; under a new key it is 403 (not the caller's tenant). Neither writes.
    status, body, _ = await alice.call(
        "POST", "/orders", {"tenantId": "another"}, Idempotency_Key="k-1"
    )
    assert status == 409
    is_error(body, "conflict")
    status, body, _ = await alice.call(
        "POST", "/orders", {"tenantId": "another"}, Idempotency_Key="k-new"
    )
    assert status == 403
    is_error(body, "forbidden")
    rows = await db_fetch(server.db_url, "SELECT id FROM pre_orders WHERE tenant_id = $1", t.id)
    assert [str(r["id"]) for r in rows] == [first["id"]]

    # The same key with another body: the document's 409 conflict. The extra field is
    # refused (422) before that: the body is the document's exactly.
    status, body, _ = await alice.call(
        "POST", "/orders", {"tenantId": slug, "x": 1}, Idempotency_Key="k-1"
    )
    assert status == 422
    is_error(body, "invalid")
    other_key_status, _, _ = await alice.call(
        "POST", "/orders", {"tenantId": slug}, Idempotency_Key="k-2"
    )
    assert other_key_status == 201
    bob, _ = await sign_in(server, http, t, "bob")  # one tenant's keys, whoever sends them
    status, body, _ = await bob.call("POST", "/orders", {"tenantId": slug}, Idempotency_Key="k-2")
    assert status == 200


async def test_same_key_other_body_is_a_conflict(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """The document's "same key + different body -> 409": a key first used on the other
    create (`/api/v1/preorders`) with its own body, then here."""
    t = await make_tenant("Beta")
    alice, slug = await sign_in(server, http, t)
    carla, _ = await sign_in(server, http, t, "carla")
    status, partner, _ = await carla.call("POST", "/api/v1/partners", {"name": "Nordic"})
    assert status == 201, partner
    status, body, _ = await alice.call(
        "POST",
        "/api/v1/preorders",
        {"partner_id": partner["id"], "delivery_date": "2030-01-02"},
        Idempotency_Key="shared",
    )
    assert status == 201, body
    status, body, _ = await alice.call(
        "POST", "/orders", {"tenantId": slug}, Idempotency_Key="shared"
    )
    assert status == 409
    is_error(body, "conflict")
    assert set(body) >= {"code", "message"}


async def test_preconditions_are_required(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant("Gamma")
    alice, slug = await sign_in(server, http, t)
    status, body, _ = await alice.call("POST", "/orders", {"tenantId": slug})
    assert status == 428
    is_error(body, "precondition_required")
    status, body, _ = await alice.call("POST", "/orders", {}, Idempotency_Key="k")
    assert status == 422
    is_error(body, "invalid")
    order = await alice.create(slug)
    status, body, _ = await alice.call("PATCH", f"/orders/{order['id']}", {"totalCents": 1234})
    assert status == 428
    is_error(body, "precondition_required")
    for bad in (12.5, "1234", -1, None, True):
        status, body, _ = await alice.call(
            "PATCH", f"/orders/{order['id']}", {"totalCents": bad}, If_Match='"1"'
        )
        assert status == 422, (bad, body)
        is_error(body, "invalid")
    status, body, _ = await alice.call("POST", f"/orders/{uuid.uuid4()}/close")
    assert status == 404
    is_error(body, "not_found")


async def test_optimistic_locking(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant("Delta")
    alice, slug = await sign_in(server, http, t)
    order = await alice.create(slug)
    path = f"/orders/{order['id']}"
    status, body, headers = await alice.call("PATCH", path, {"totalCents": 1234}, If_Match='"1"')
    assert status == 200, body
    assert body["version"] == 2 and headers["ETag"] == '"2"'
    assert (body["status"], body["totalCents"], body["tenantId"]) == ("confirmed", 1234, slug)
    assert {"id", "tenantId", "status", "version", "totalCents", "createdAt", "updatedAt"} <= set(
        body
    )
    assert body["createdAt"] == order["createdAt"]

    status, body, _ = await alice.call("PATCH", path, {"totalCents": 99}, If_Match='"1"')
    assert status == 409
    assert (body["code"], body["message"]) == ("conflict", "stale version")
    # Confirmed already: a second confirm at the right version is refused as well.
    status, body, _ = await alice.call("PATCH", path, {"totalCents": 99}, If_Match='"2"')
    assert status == 409
    is_error(body, "invalid_transition")
    assert "draft" in body["message"]
    status, body, _ = await alice.call("GET", "/orders?limit=1")
    assert body["items"][0]["totalCents"] == 1234 and body["items"][0]["version"] == 2


async def test_close_writes_one_outbox_row_in_the_same_transaction(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant("Epsilon", managers=("maria",))
    alice, slug = await sign_in(server, http, t)
    order = await alice.create(slug)
    path = f"/orders/{order['id']}"
    status, body, _ = await alice.call("POST", path + "/close")
    assert status == 409  # a draft cannot be closed
    is_error(body, "invalid_transition")
    status, body, _ = await alice.call("PATCH", path, {"totalCents": 500}, If_Match='"1"')
    assert status == 200
    status, body, _ = await alice.call("POST", path + "/close", If_Match='"1"')
    assert status == 409 and body["message"] == "stale version"

    maria, _ = await sign_in(server, http, t, "maria")  # a manager may change a status
    status, body, headers = await maria.call("POST", path + "/close")
    assert status == 200, body
    assert body == {"id": order["id"], "status": "closed", "version": 3}
    assert headers["ETag"] == '"3"'

    rows = await db_fetch(
        server.db_url,
        "SELECT tenant_id::text, payload, published_at FROM outbox "
        "WHERE event_type = 'orders.closed' AND aggregate_id = $1",
        order["id"],
    )
    assert len(rows) == 1
    payload = json.loads(rows[0]["payload"])  # jsonb as text on a plain connection
    assert set(payload) == {"orderId", "tenantId", "totalCents", "closedAt"}
    assert (payload["orderId"], payload["tenantId"], payload["totalCents"]) == (
        order["id"],
        slug,
        500,
    )
    assert rows[0]["tenant_id"] == t.id
    stored = await db_fetch(
        server.db_url, "SELECT status, version FROM pre_orders WHERE id = $1", order["id"]
    )
    assert (stored[0]["status"], stored[0]["version"]) == ("closed", 3)

    status, body, _ = await alice.call("POST", path + "/close")
    assert status == 409  # closed is final: no second row
    is_error(body, "invalid_transition")
    rows = await db_fetch(
        server.db_url,
        "SELECT 1 FROM outbox WHERE event_type = 'orders.closed' AND aggregate_id = $1",
        order["id"],
    )
    assert len(rows) == 1


async def test_roles(server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant) -> None:
    t = await make_tenant("Zeta", managers=("maria",))
    maria, slug = await sign_in(server, http, t, "maria")
    status, body, _ = await maria.call("POST", "/orders", {"tenantId": slug}, Idempotency_Key="m")
    assert status == 403
    assert body["code"] in ("forbidden", "forbidden_write")
    carla, _ = await sign_in(server, http, t, "carla")
    order = await carla.create(slug)
    status, body, _ = await maria.call(
        "PATCH", f"/orders/{order['id']}", {"totalCents": 1}, If_Match='"1"'
    )
    assert status == 403
    assert await db_fetch(server.db_url, "SELECT 1 FROM pre_orders WHERE total_cents = 1") == []


async def test_pages_of_fifteen_are_ten_then_five_newest_first_and_tenant_scoped(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant("Eta")
    other = await make_tenant("Theta")
    alice, slug = await sign_in(server, http, t)
    stranger, other_slug = await sign_in(server, http, other)
    created = [(await alice.create(slug))["id"] for _ in range(15)]
    await stranger.create(other_slug)

    status, first, _ = await alice.call("GET", "/orders?limit=10")
    assert status == 200, first
    assert set(first) == {"items", "nextCursor"} and len(first["items"]) == 10
    assert isinstance(first["nextCursor"], str)
    # An order created between the pages is newer than both: it shows on neither.
    await alice.create(slug)
    status, second, _ = await alice.call("GET", f"/orders?limit=10&cursor={first['nextCursor']}")
    assert status == 200, second
    assert len(second["items"]) == 5 and second["nextCursor"] is None
    ids = [o["id"] for o in first["items"] + second["items"]]
    assert len(set(ids)) == 15 and ids == created[::-1]
    keys = [(o["createdAt"], o["id"]) for o in first["items"] + second["items"]]
    assert keys == sorted(keys, reverse=True)
    item = first["items"][0]
    assert {"id", "tenantId", "status", "version", "totalCents", "createdAt", "updatedAt"} <= set(
        item
    )
    assert (item["tenantId"], item["status"], item["partnerId"]) == (slug, "draft", None)

    status, body, _ = await stranger.call("GET", "/orders?limit=200")
    assert [o["tenantId"] for o in body["items"]] == [other_slug]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("limit=0", 422, "invalid"),
        ("limit=201", 422, "invalid"),
        ("limit=ten", 422, "invalid"),
        ("cursor=not-a-cursor", 400, "bad_request"),
    ],
)
async def test_bad_page_requests(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    query: str,
    status: int,
    code: str,
) -> None:
    t = await make_tenant()
    alice, _ = await sign_in(server, http, t)
    got, body, _ = await alice.call("GET", "/orders?" + query)
    assert got == status
    is_error(body, code)
