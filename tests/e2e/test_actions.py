"""Every Recap action, each checked three ways: it shows at once, it survives a reload
(IndexedDB), and it reaches the server (PostgreSQL)."""

from __future__ import annotations

import datetime
from typing import Any

from playwright.async_api import Page, expect

from .conftest import AppServer, NewPage, SeedTenant, db_fetch
from .helpers import (
    card_ids,
    close_editor,
    eventually,
    new_card,
    next_working_day,
    open_order,
    order_card,
    pick,
    screenshot,
    set_number,
    sign_in,
    wait_synced,
)


async def one(db_url: str, sql: str, *args: object) -> dict[str, Any]:
    rows = await db_fetch(db_url, sql, *args)
    assert len(rows) == 1, rows
    return dict(rows[0])


async def order_row(db_url: str, order_id: str) -> dict[str, Any]:
    return await one(
        db_url,
        """SELECT p.name AS partner, o.delivery_date, o.status, o.tombstone
           FROM pre_orders o LEFT JOIN partners p
             ON p.tenant_id = o.tenant_id AND p.id = o.partner_id
           WHERE o.id = $1::uuid""",
        order_id,
    )


async def flow_row(db_url: str, flow_id: str) -> dict[str, Any]:
    return await one(
        db_url,
        """SELECT pr.name AS product, pr.sku, f.quantity, f.weight, f.tombstone,
                  f.pre_order_id::text AS pre_order_id
           FROM pre_order_flows f LEFT JOIN products pr
             ON pr.tenant_id = f.tenant_id AND pr.id = f.product_id
           WHERE f.id = $1::uuid""",
        flow_id,
    )


async def reload_and_wait(page: Page) -> None:
    await page.reload()
    await expect(page.get_by_test_id("day-summary")).not_to_have_text("Loading…")


async def test_every_action_applies_at_once_survives_reload_and_syncs(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=1, days_ahead=5)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("alice"))
    db = app.db_url
    day = next_working_day()
    await expect(page.get_by_test_id("date-input")).to_have_value(day.isoformat())
    before = set(await card_ids(page))

    # 1. Create a pre-order, picking the partner by search (one with no order that day: a
    # second one for the same partner and day is warned about, see test_editor.py).
    taken = await page.get_by_test_id("partner-name").evaluate_all(
        "els => els.map(e => e.firstChild.textContent)"
    )
    free = next(
        f"{word} {kind}"
        for word in ("Alpine", "Baltic", "Cedar", "Delta")
        for kind in ("Grocers", "Market")
        if f"{word} {kind}" not in taken
    )
    await page.get_by_test_id("new-order").click()
    partner = await pick(page, free)
    editor = page.get_by_test_id("order-editor")
    await expect(editor).to_be_visible()
    await expect(editor.get_by_test_id("editor-partner")).to_contain_text(partner)
    order_id = await new_card(page, before)
    await reload_and_wait(page)
    await expect(order_card(page, order_id)).to_be_visible()
    await wait_synced(page)
    row = await eventually(lambda: order_row(db, order_id))
    assert (row["partner"], row["delivery_date"], row["status"], row["tombstone"]) == (
        partner,
        day,
        "pending",
        0,
    )

    # 2. Add a flow (product picked by SKU): quantity 1 and the product's unit weight.
    editor = await open_order(page, order_id)
    await editor.get_by_test_id("add-flow").click()
    product = await pick(page, "SKU-1003")
    flow_editor = editor.get_by_test_id("flow-editor")
    await expect(flow_editor).to_have_count(1)
    await expect(flow_editor.get_by_test_id("flow-product-button")).to_contain_text(product)
    flow_id = str(await flow_editor.get_attribute("data-flow-id"))
    await close_editor(page)
    await reload_and_wait(page)
    await expect(order_card(page, order_id).get_by_test_id("flow-sku")).to_have_text("SKU-1003")
    await wait_synced(page)
    flow = await flow_row(db, flow_id)
    assert (flow["sku"], flow["quantity"], flow["tombstone"], flow["pre_order_id"]) == (
        "SKU-1003",
        1,
        0,
        order_id,
    )
    unit_weight = flow["weight"]

    # 3. Change the quantity (the weight follows the unit weight) and then the weight.
    editor = await open_order(page, order_id)
    await set_number(editor.get_by_test_id("flow-qty-input"), "7")
    await expect(order_card(page, order_id).get_by_test_id("flow-qty")).to_have_text("7")
    await set_number(editor.get_by_test_id("flow-weight-input"), "12.5")
    await expect(order_card(page, order_id).get_by_test_id("flow-weight")).to_have_text("12.5 kg")
    await close_editor(page)
    await reload_and_wait(page)
    await expect(order_card(page, order_id).get_by_test_id("flow-qty")).to_have_text("7")
    await expect(order_card(page, order_id).get_by_test_id("flow-weight")).to_have_text("12.5 kg")
    await wait_synced(page)
    flow = await flow_row(db, flow_id)
    assert (flow["quantity"], flow["weight"]) == (7, 12.5)
    assert unit_weight > 0

    # 4. Change the flow's product.
    editor = await open_order(page, order_id)
    await editor.get_by_test_id("flow-product-button").click()
    product = await pick(page, "SKU-1010")
    await expect(order_card(page, order_id).get_by_test_id("flow-sku")).to_have_text("SKU-1010")
    await close_editor(page)
    await reload_and_wait(page)
    await expect(order_card(page, order_id).get_by_test_id("flow-product")).to_have_text(product)
    await wait_synced(page)
    assert (await flow_row(db, flow_id))["sku"] == "SKU-1010"

    # 5. Toggle pending -> confirmed.
    editor = await open_order(page, order_id)
    await editor.get_by_test_id("editor-status-toggle").click()
    await expect(order_card(page, order_id).get_by_test_id("order-status")).to_have_text(
        "confirmed"
    )
    await close_editor(page)
    await reload_and_wait(page)
    await expect(order_card(page, order_id).get_by_test_id("order-status")).to_have_text(
        "confirmed"
    )
    await wait_synced(page)
    assert (await order_row(db, order_id))["status"] == "confirmed"

    # 6. Change the partner.
    editor = await open_order(page, order_id)
    await editor.get_by_test_id("editor-partner").click()
    new_partner = await pick(page, "Baltic")
    await expect(editor.get_by_test_id("editor-partner")).to_contain_text(new_partner)
    await close_editor(page)
    group = page.get_by_test_id("partner-group").filter(has=order_card(page, order_id))
    await expect(group.get_by_test_id("partner-name")).to_contain_text(new_partner)
    await reload_and_wait(page)
    await expect(group.get_by_test_id("partner-name")).to_contain_text(new_partner)
    await wait_synced(page)
    assert (await order_row(db, order_id))["partner"] == new_partner

    # 7. Add a second flow, then remove the first one (at once: Undo is the recourse).
    editor = await open_order(page, order_id)
    await editor.get_by_test_id("add-flow").click()
    await pick(page, "SKU-1020")
    await expect(editor.get_by_test_id("flow-editor")).to_have_count(2)
    first = editor.locator(f'[data-testid="flow-editor"][data-flow-id="{flow_id}"]')
    await first.get_by_test_id("flow-remove").click()
    await expect(editor.get_by_test_id("flow-editor")).to_have_count(1)
    await close_editor(page)
    await reload_and_wait(page)
    await expect(order_card(page, order_id).get_by_test_id("flow-row")).to_have_count(1)
    await expect(order_card(page, order_id).get_by_test_id("flow-sku")).to_have_text("SKU-1020")
    await wait_synced(page)
    assert (await flow_row(db, flow_id))["tombstone"] == 1

    # 8. Switch the delivery date (the pre-order moves to the next day; the page follows).
    later = day + datetime.timedelta(days=1)
    editor = await open_order(page, order_id)
    await editor.get_by_test_id("editor-date").fill(later.isoformat())
    await expect(order_card(page, order_id)).to_have_count(0)
    await page.get_by_test_id("date-next").click()
    await expect(page.get_by_test_id("date-input")).to_have_value(later.isoformat())
    await expect(order_card(page, order_id)).to_be_visible()
    await reload_and_wait(page)
    await expect(page.get_by_test_id("date-input")).to_have_value(later.isoformat())
    await expect(order_card(page, order_id)).to_be_visible()
    await wait_synced(page)
    assert (await order_row(db, order_id))["delivery_date"] == later
    await screenshot(page, "recap-after-actions")

    # 9. Delete it.
    editor = await open_order(page, order_id)
    await editor.get_by_test_id("editor-delete").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(order_card(page, order_id)).to_have_count(0)
    await reload_and_wait(page)
    await expect(order_card(page, order_id)).to_have_count(0)
    await wait_synced(page)
    assert (await order_row(db, order_id))["tombstone"] == 1


async def test_invalid_numbers_never_reach_the_log(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    page = await new_page(width=390, height=844, is_mobile=True, has_touch=True)
    await sign_in(page, app.url, tenant.email("bob"))
    (order_id, *_) = await card_ids(page)
    editor = await open_order(page, order_id)
    qty = editor.get_by_test_id("flow-qty-input").first
    shown = await qty.input_value()
    flow_id = await editor.get_by_test_id("flow-editor").first.get_attribute("data-flow-id")
    count = "SELECT count(*) AS n FROM messages WHERE row_id = $1"
    seeded = (await db_fetch(app.db_url, count, str(flow_id)))[0]["n"]
    # Quantities are whole numbers from 1 to 100,000 (see test_editor.py for the range).
    for bad, message in (
        ("-3", "At least 1"),
        ("abc", "Enter a whole number"),
        ("", "Enter a quantity"),
        ("0", "At least 1"),
    ):
        await qty.fill(bad)
        await expect(editor.get_by_test_id("flow-qty-input-error").first).to_contain_text(message)
        await qty.press("Enter")
        await expect(page.get_by_test_id("unsynced-count")).to_have_text("0")
    await screenshot(page, "phone-editor-validation")
    await qty.fill(shown)
    await expect(editor.get_by_test_id("flow-qty-input-error")).to_have_count(0)
    rows = await db_fetch(app.db_url, count, str(flow_id))
    assert rows[0]["n"] == seeded  # only the seeded fields, nothing invalid
