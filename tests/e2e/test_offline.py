"""A true outage: the server is down (so are the service worker's own requests) and the
browser is offline. Edits apply at once, survive a reload that is served by the service
worker, and reach the server when it is back."""

from __future__ import annotations

from playwright.async_api import expect

from .conftest import AppServer, NewPage, SeedTenant, db_fetch
from .helpers import (
    card_ids,
    close_editor,
    new_card,
    open_order,
    order_card,
    pick,
    set_number,
    sign_in,
    wait_sw,
    wait_synced,
)


async def test_offline_edits_survive_a_reload_and_sync_when_back(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("alice"))
    await wait_sw(page)
    manifest = await page.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())"
    )
    assert manifest["short_name"] == "Recap" and manifest["display"] == "standalone"
    order_id, *_ = await card_ids(page)
    before = set(await card_ids(page))

    await app.stop()
    await page.context.set_offline(True)
    await expect(page.get_by_test_id("net-state")).to_have_text("Offline")

    editor = await open_order(page, order_id)
    status = await order_card(page, order_id).get_by_test_id("order-status").text_content()
    await editor.get_by_test_id("editor-status-toggle").click()
    flow = editor.get_by_test_id("flow-editor").first
    flow_id = str(await flow.get_attribute("data-flow-id"))
    await set_number(flow.get_by_test_id("flow-qty-input"), "33")
    await close_editor(page)
    await page.get_by_test_id("new-order").click()
    partner = await pick(page, "Cedar")
    await close_editor(page)
    new_id = await new_card(page, before)
    toggled = "confirmed" if status == "pending" else "pending"
    await expect(order_card(page, order_id).get_by_test_id("order-status")).to_have_text(toggled)
    await expect(order_card(page, order_id).get_by_test_id("unsynced-marker")).to_be_visible()
    await expect(order_card(page, new_id).get_by_test_id("unsynced-marker")).to_be_visible()
    # the rep's actions: the status, a line's quantity (and its weight), a new pre-order
    await expect(page.get_by_test_id("unsynced-count")).to_have_text("3")

    # No network at all: the app shell comes from the service worker, the data from IndexedDB.
    await page.reload()
    await expect(page.get_by_test_id("net-state")).to_have_text("Offline")
    await expect(page.get_by_test_id("unsynced-count")).to_have_text("3")
    await expect(order_card(page, order_id).get_by_test_id("order-status")).to_have_text(toggled)
    row = page.locator(f'[data-testid="flow-row"][data-flow-id="{flow_id}"]')
    await expect(row.get_by_test_id("flow-qty")).to_have_text("33")
    await expect(order_card(page, new_id)).to_be_visible()

    # Back online: the edits reach the server by themselves (the `online` event).
    await app.start()
    await page.context.set_offline(False)
    await wait_synced(page)
    await expect(order_card(page, order_id).get_by_test_id("unsynced-marker")).to_have_count(0)
    rows = await db_fetch(app.db_url, "SELECT status FROM pre_orders WHERE id = $1::uuid", order_id)
    assert rows[0]["status"] == toggled
    rows = await db_fetch(
        app.db_url, "SELECT quantity FROM pre_order_flows WHERE id = $1::uuid", flow_id
    )
    assert rows[0]["quantity"] == 33
    rows = await db_fetch(
        app.db_url,
        """SELECT p.name FROM pre_orders o JOIN partners p
             ON p.tenant_id = o.tenant_id AND p.id = o.partner_id WHERE o.id = $1::uuid""",
        new_id,
    )
    assert rows[0]["name"] == partner
