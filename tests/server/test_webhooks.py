"""Webhooks as an attack surface and as a shared resource: an admin cannot point the relay
at the server's own network (every spelling of loopback, the metadata address, private
ranges, redirects into them), and one tenant's hanging endpoint does not hold back another
tenant's events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sync_server.services import webhooks
from tests.conftest import MakeServer, MakeTenant
from tests.server.test_rest import API, api, eventually, outbox_row, pg  # noqa: F401

HOOK = f"{API}/settings/webhook"


@dataclass
class Endpoint:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)


MakeEndpoint = Callable[
    [Callable[[web.Request, Endpoint], Awaitable[web.Response]]], Awaitable[Endpoint]
]


@pytest.fixture
async def endpoint() -> AsyncIterator[MakeEndpoint]:
    """Real HTTP endpoints on loopback, each answering with the handler given."""
    started: list[tuple[TestServer, Endpoint]] = []

    async def start(
        answer: Callable[[web.Request, Endpoint], Awaitable[web.Response]],
    ) -> Endpoint:
        holder: list[Endpoint] = []

        async def handle(request: web.Request) -> web.Response:
            me = holder[0]
            me.received.append(await request.json())
            return await answer(request, me)

        app = web.Application()
        app.router.add_post("/hook", handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        holder.append(Endpoint(str(server.make_url("/hook"))))
        started.append((server, holder[0]))
        return holder[0]

    yield start
    for server, me in started:
        me.release.set()
        await server.close()


async def accepted(_: web.Request, __: Endpoint) -> web.Response:
    return web.Response(status=204)


# -- where a webhook may point ---------------------------------------------------------------
FORBIDDEN = [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://127.1/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://0.0.0.0/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.7/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "http://[fd00::1]/hook",
    "http://224.0.0.1/hook",
    "http://no-such-host.invalid/hook",
]


@pytest.mark.parametrize("url", FORBIDDEN)
async def test_a_webhook_into_the_servers_network_is_refused(
    url: str,
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
) -> None:
    strict = await make_server(webhook_allow="", relay_enabled=False)
    carla = api(strict, http, await make_tenant())
    reply = await carla.call("PUT", HOOK, {"url": url})
    assert reply.status == 422, reply.body
    assert reply.body["code"] == "webhook_target_refused"
    assert (await carla.get(HOOK)).body == {"url": None}  # nothing kept


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/", "http:///x"])
async def test_a_webhook_must_be_http(
    url: str, make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    strict = await make_server(webhook_allow="", relay_enabled=False)
    carla = api(strict, http, await make_tenant())
    reply = await carla.call("PUT", HOOK, {"url": url})
    assert reply.status == 422 and set(reply.body) >= {"code", "message"}
    assert (await carla.get(HOOK)).body == {"url": None}


async def test_an_allowed_network_is_reachable_and_clearing_needs_no_check(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    on_premises = await make_server(webhook_allow="127.0.0.0/8", relay_enabled=False)
    carla = api(on_premises, http, await make_tenant())
    assert (await carla.call("PUT", HOOK, {"url": "http://127.0.0.1:9/erp"})).status == 200
    assert (await carla.call("PUT", HOOK, {"url": None})).status == 200
    assert (await carla.get(HOOK)).body == {"url": None}


def test_reachable_addresses() -> None:
    import ipaddress

    ip = ipaddress.ip_address
    assert webhooks.reachable(ip("93.184.216.34"), [])
    assert webhooks.reachable(ip("2606:4700::1111"), [])
    for inside in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:10.0.0.1", "fe80::1"):
        assert not webhooks.reachable(ip(inside), []), inside
    allow = webhooks.allow_list("10.1.2.0/24, 192.0.2.7")
    assert webhooks.reachable(ip("10.1.2.200"), allow)
    assert not webhooks.reachable(ip("10.1.3.1"), allow)


async def test_the_connection_itself_is_checked() -> None:
    """A name checked when saved may resolve elsewhere later (DNS rebinding): the resolver the
    relay connects through drops every address a webhook may not reach."""
    resolver = webhooks.GuardedResolver([])
    try:
        with pytest.raises(OSError, match="may not reach"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()
    async with webhooks.session([], 2.0) as session:
        with pytest.raises(aiohttp.ClientError):
            await session.post("http://localhost:9/hook", json={})


async def test_a_redirect_into_the_network_is_not_followed(
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,  # noqa: F811
    endpoint: MakeEndpoint,
) -> None:
    inside = await endpoint(accepted)

    async def bounce(_: web.Request, __: Endpoint) -> web.Response:
        raise web.HTTPTemporaryRedirect(inside.url)

    outside = await endpoint(bounce)
    fast = await make_server(relay_interval_s=0.05)
    t = await make_tenant()
    carla = api(fast, http, t)
    assert (await carla.call("PUT", HOOK, {"url": outside.url})).status == 200
    await carla.new_order(await carla.create_partner("Nordic"))

    async def refused() -> bool:
        return bool((await outbox_row(pg, t.id))["attempts"] >= 1)

    await eventually(refused)
    row = await outbox_row(pg, t.id)
    assert row["published_at"] is None and row["last_error"] == "webhook answered 307"
    assert len(outside.received) >= 1 and inside.received == []


# -- one tenant's endpoint does not hold back another's -------------------------------------
async def test_a_hanging_webhook_does_not_delay_another_tenant(
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    pg: asyncpg.Connection,  # noqa: F811
    endpoint: MakeEndpoint,
) -> None:
    async def hang(_: web.Request, me: Endpoint) -> web.Response:
        await me.release.wait()
        return web.Response(status=204)

    stuck, healthy = await endpoint(hang), await endpoint(accepted)
    fast = await make_server(relay_interval_s=0.05, webhook_timeout_s=60)
    a, b = await make_tenant("A"), await make_tenant("B")
    alpha, beta = api(fast, http, a), api(fast, http, b)
    assert (await alpha.call("PUT", HOOK, {"url": stuck.url})).status == 200
    assert (await beta.call("PUT", HOOK, {"url": healthy.url})).status == 200
    # A's events first, so a relay delivering in one queue would sit behind them.
    partner_a = await alpha.create_partner("Nordic")
    for _ in range(3):
        await alpha.new_order(partner_a)

    async def a_hangs() -> bool:
        return len(stuck.received) >= 1

    await eventually(a_hangs)
    started = time.monotonic()
    order_b = await beta.new_order(await beta.create_partner("Bravo"))

    async def b_delivered() -> bool:
        return any(d["aggregate_id"] == order_b["id"] for d in healthy.received)

    await eventually(b_delivered, timeout=2.0)
    assert time.monotonic() - started < 2.0
    # A's first event is still in flight, and its later ones wait behind it, in order.
    assert len(stuck.received) == 1
    pending = await pg.fetchval(
        "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND published_at IS NULL", a.id
    )
    assert pending >= 3
    stuck.release.set()

    async def a_drained() -> bool:
        left = await pg.fetchval(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND published_at IS NULL", a.id
        )
        return bool(left == 0)

    await eventually(a_drained, timeout=10.0)
    delivered = [d["id"] for d in stuck.received]
    assert delivered == sorted(delivered)


async def test_a_tenants_events_wait_behind_one_in_flight_on_another_process(
    make_server: MakeServer,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    endpoint: MakeEndpoint,
) -> None:
    """Two processes relay: while one delivers a tenant's event (its endpoint hanging), the
    other does not take that tenant's later events (they would arrive out of order)."""

    async def hang(_: web.Request, me: Endpoint) -> web.Response:
        await me.release.wait()
        return web.Response(status=204)

    stuck = await endpoint(hang)
    one = await make_server(relay_interval_s=0.05, webhook_timeout_s=60)
    await make_server(relay_interval_s=0.05, webhook_timeout_s=60)
    a = await make_tenant("A")
    alpha = api(one, http, a)
    assert (await alpha.call("PUT", HOOK, {"url": stuck.url})).status == 200
    partner = await alpha.create_partner("Nordic")
    await alpha.new_order(partner)

    async def in_flight() -> bool:
        return len(stuck.received) >= 1

    await eventually(in_flight)
    for _ in range(3):
        await alpha.new_order(partner)
    await asyncio.sleep(1.5)  # thirty passes of each relay
    assert len(stuck.received) == 1
    stuck.release.set()

    async def all_in_order() -> bool:
        ids = [d["id"] for d in stuck.received]
        return len(ids) >= 4 and ids == sorted(ids) and len(set(ids)) == len(ids)

    try:
        await eventually(all_in_order, timeout=10.0)
    except AssertionError:
        raise AssertionError([d["id"] for d in stuck.received]) from None
