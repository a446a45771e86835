"""The dashboard's order value and priority cards (seed 002): online they are the server's
`GET /api/orders/summary`, and offline the same figures computed from the device's replica
by the one total rule (so both sides agree on the seeded prices, quantities, cancelled
lines and set totals)."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from .conftest import PASSWORD, AppServer, NewPage, SeedTenant
from .helpers import sign_in, wait_synced


async def orders_summary(base_url: str, email: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base_url}/auth/login", json={"email": email, "password": PASSWORD}
        ) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["token"]
        async with http.get(
            f"{base_url}/api/orders/summary", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200, await resp.text()
            body: dict[str, Any] = await resp.json()
            return body


async def shown(page: Page) -> tuple[int, dict[str, int]]:
    cards = page.get_by_test_id("order-value")
    total = await cards.get_by_test_id("kpi-total-value").get_attribute("data-value")
    priorities: dict[str, int] = {}
    for card in await cards.get_by_test_id("kpi-priority").all():
        value = await card.locator("strong").get_attribute("data-value")
        priorities[str(await card.get_attribute("data-priority"))] = int(value or "-1")
    return int(total or "-1"), priorities


async def test_order_value_and_priority_cards_online_and_offline(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    seeded = await seed_tenant()
    email = seeded.email("carla")
    summary = await orders_summary(app.url, email)
    want = (summary["totalCents"], {p["priority"]: p["count"] for p in summary["byPriority"]})
    assert want[0] > 0 and sum(want[1].values()) > 0, "the seed has priced, prioritised orders"

    page = await new_page(width=1400, height=1000)
    await sign_in(page, app.url, email)
    await wait_synced(page)
    await page.get_by_test_id("nav-dashboard").click()
    await expect(page.get_by_test_id("kpi-total-value")).to_be_visible()
    assert await shown(page) == want

    await page.context.set_offline(True)
    await page.get_by_test_id("dash-refresh").click()
    await expect(page.get_by_test_id("dash-offline")).to_be_visible()
    await expect(page.get_by_test_id("kpi-total-value")).to_have_attribute(
        "data-value", str(want[0])
    )
    assert await shown(page) == want
    await page.context.set_offline(False)
