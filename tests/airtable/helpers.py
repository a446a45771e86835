"""The setup the Airtable tests share (tests/airtable, tests/contracts): the local fake of
Airtable's API (tests/airtable/fake_airtable.py) started on a real socket, a tenant, a Recap
server whose bridge talks to the fake, and the tenant's connector wired to a base of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.airtable.fake_airtable import FakeAirtable
from tests.conftest import MakeServer, MakeTenant, Running, Tenant

CONNECTOR_API = "/api/v1/connectors/airtable"


@asynccontextmanager
async def served(
    fake: FakeAirtable,
    make_server: MakeServer,
    make_tenant: MakeTenant,
    managers: tuple[str, ...] = (),
    **server_settings: object,
) -> AsyncIterator[tuple[Running, Tenant]]:
    """The fake (its tables set up and seeded by the caller) started; a tenant (the usual
    reps and admin, and these managers); a server with these settings whose Airtable API is
    the fake. The fake is closed on the way out."""
    url = await fake.start()
    try:
        tenant = await make_tenant(managers=managers)
        server = await make_server(airtable_api_url=url, **server_settings)
        yield server, tenant
    finally:
        await fake.close()


async def connect_airtable(
    http: aiohttp.ClientSession, server: Running, token: str, **config: Any
) -> dict[str, Any]:
    """`PUT` the tenant's Airtable connector (`base_id`, `table`, `api_key`, ...) as the
    admin whose token this is: it must be accepted; its state as answered."""
    async with http.put(
        server.url + CONNECTOR_API, json=config, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/json", await resp.text()
        body = await resp.json()
    assert isinstance(body, dict)
    return body
