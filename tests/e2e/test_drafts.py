"""A draft made through the Orders API (seed 004's `POST /orders`: no partner, no delivery
date) reaches a rep's device, where the recap page lists it above the day's pre-orders
("N pre-orders without a delivery date"); the rep opens it, gives it a partner and a date,
and it leaves that list for its day's, on the device and on the server."""

from __future__ import annotations

import uuid

import aiohttp
from playwright.async_api import expect

from .conftest import PASSWORD, AppServer, NewPage, SeedTenant, db_fetch
from .helpers import next_working_day, order_card, pick, screenshot, sign_in, wait_synced


async def test_a_draft_from_the_orders_api_gets_a_partner_and_a_date_on_a_device(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=3, partners=10, products=10)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("alice"))
    await expect(page.get_by_test_id("drafts")).to_have_count(0)

    # An integration signs in as Carla and makes a draft, as the document shows it.
    async with aiohttp.ClientSession() as http:
        async with http.post(
            app.url + "/auth/login", json={"email": tenant.email("carla"), "password": PASSWORD}
        ) as r:
            assert r.status == 200, await r.text()
            login = await r.json()
        async with http.post(
            app.url + "/orders",
            json={"tenantId": login["user"]["tenant_slug"]},
            headers={
                "Authorization": f"Bearer {login['token']}",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        ) as r:
            assert r.status == 201, await r.text()
            draft = (await r.json())["id"]

    # It reaches Alice's device live, in the list of pre-orders without a date.
    drafts = page.get_by_test_id("drafts")
    await expect(drafts.get_by_test_id("drafts-title")).to_have_text(
        "1 pre-order without a delivery date"
    )
    item = drafts.locator(f'[data-testid="draft-item"][data-order-id="{draft}"]')
    await expect(item).to_contain_text("No partner yet")
    await screenshot(page, "recap-drafts")

    # She opens it, picks a partner (it stays a draft), then a date: the panel stays open.
    await item.click()
    editor = page.get_by_test_id("order-editor")
    await expect(editor).to_be_visible()
    await expect(editor.get_by_test_id("editor-partner")).to_contain_text("Choose partner")
    await editor.get_by_test_id("editor-partner").click()
    partner = await pick(page, "")
    await expect(editor.get_by_test_id("editor-partner")).to_contain_text(partner)
    await expect(item).to_contain_text(partner)
    day = next_working_day()
    await editor.get_by_test_id("editor-date").fill(day.isoformat())
    await expect(page.get_by_text("Scheduled for")).to_be_visible()
    await expect(editor).to_be_visible()
    await page.get_by_test_id("sheet-close").click()

    # No draft is left; it is on its day (the page shows the next working day), under
    # its partner, and the server has both fields.
    await expect(page.get_by_test_id("drafts")).to_have_count(0)
    card = order_card(page, draft)
    await expect(card).to_be_visible()
    group = page.get_by_test_id("partner-group").filter(has=card)
    await expect(group.get_by_test_id("partner-name")).to_contain_text(partner)
    await wait_synced(page)
    rows = await db_fetch(
        app.db_url,
        "SELECT p.name, o.delivery_date, o.status FROM pre_orders o "
        "JOIN partners p ON p.tenant_id = o.tenant_id AND p.id = o.partner_id "
        "WHERE o.id = $1::uuid",
        draft,
    )
    assert [(r["name"], r["delivery_date"], r["status"]) for r in rows] == [
        (partner, day, "pending")
    ]
