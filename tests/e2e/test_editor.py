"""The recap page's edit panel (issue 19): Undo as an ordinary new edit, quantities within
their range, a typed weight kept, discarded entries said, a second order for the same
partner and day warned about, one-step adding with the partner's recent products first, the
status toggled from the list, focus kept in the panel, and an order deleted while open."""

from __future__ import annotations

import datetime
from typing import Any

from playwright.async_api import Locator, Page, expect

from .conftest import AppServer, NewPage, SeedTenant, db_fetch
from .helpers import (
    card_ids,
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


async def flow_row(db_url: str, flow_id: str) -> dict[str, Any]:
    return await one(
        db_url,
        """SELECT quantity, weight, tombstone, product_id::text AS product_id
           FROM pre_order_flows WHERE id = $1::uuid""",
        flow_id,
    )


async def order_row(db_url: str, order_id: str) -> dict[str, Any]:
    return await one(
        db_url,
        """SELECT partner_id::text AS partner_id, delivery_date, status, tombstone
           FROM pre_orders WHERE id = $1::uuid""",
        order_id,
    )


async def tombstones(db_url: str, row: str) -> list[str]:
    """The row's tombstone messages, oldest first (the log keeps every edit)."""
    rows = await db_fetch(
        db_url,
        "SELECT value::text AS v FROM messages WHERE row_id = $1 AND col = 'tombstone'"
        " ORDER BY timestamp",
        row,
    )
    return [str(r["v"]) for r in rows]


def flow_editor(editor: Locator, flow_id: str) -> Locator:
    return editor.locator(f'[data-testid="flow-editor"][data-flow-id="{flow_id}"]')


def toast(page: Page, text: str) -> Locator:
    return page.get_by_test_id("info-toast").filter(has_text=text)


async def partners_on_page(page: Page) -> set[str]:
    names = await page.get_by_test_id("partner-name").evaluate_all(
        "els => els.map(e => e.firstChild.textContent)"
    )
    return {str(n) for n in names}


async def free_partner(page: Page) -> str:
    """A partner (the first of the picker's matches for a word) with no order on this day."""
    taken = await partners_on_page(page)
    for word in ("Cedar", "Baltic", "Delta", "Alpine", "Fjord", "Granite"):
        for kind in ("Grocers", "Market"):
            if f"{word} {kind}" not in taken:
                return f"{word} {kind}"
    raise AssertionError("no free partner")


async def test_undo_removing_a_line_deleting_moving_and_changing_partner(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("alice"))
    db = app.db_url
    day = next_working_day()
    order_id, *_ = await card_ids(page)

    # Removing a line: no dialog, gone at once (and on the server); Undo, still offered after
    # 5 s, brings it back with its values, as a new edit after the delete.
    editor = await open_order(page, order_id)
    flows = editor.get_by_test_id("flow-editor")
    count = await flows.count()
    first = flows.first
    flow_id = str(await first.get_attribute("data-flow-id"))
    qty = await first.get_by_test_id("flow-qty-input").input_value()
    weight = await first.get_by_test_id("flow-weight-input").input_value()
    await first.get_by_test_id("flow-remove").click()
    await expect(page.get_by_role("alertdialog")).to_have_count(0)
    await expect(flows).to_have_count(count - 1)
    removed = toast(page, "Removed")
    await expect(removed).to_be_visible()
    await wait_synced(page)
    assert (await flow_row(db, flow_id))["tombstone"] == 1
    await screenshot(page, "editor-undo-toast")
    await page.wait_for_timeout(5_200)
    await removed.get_by_test_id("toast-action").click()
    await expect(removed).to_have_count(0)
    await expect(flows).to_have_count(count)
    back = flow_editor(editor, flow_id)
    await expect(back.get_by_test_id("flow-qty-input")).to_have_value(qty)
    await expect(back.get_by_test_id("flow-weight-input")).to_have_value(weight)
    await wait_synced(page)
    row = await flow_row(db, flow_id)
    assert (row["tombstone"], float(row["quantity"])) == (0, float(qty))
    assert await tombstones(db, flow_id) == ["0", "1", "0"]

    # Changing the partner, then Undo: the old partner written again.
    old_partner = (await order_row(db, order_id))["partner_id"]
    old_name = (await editor.get_by_test_id("editor-partner").inner_text()).split("\n")[0]
    await editor.get_by_test_id("editor-partner").click()
    new_name = await pick(page, await free_partner(page))
    await expect(editor.get_by_test_id("editor-partner")).to_contain_text(new_name)
    changed = toast(page, f"Partner changed to {new_name}")
    await changed.get_by_test_id("toast-action").click()
    await expect(editor.get_by_test_id("editor-partner")).to_contain_text(old_name.strip())
    await wait_synced(page)
    assert (await order_row(db, order_id))["partner_id"] == old_partner
    partner_msgs = await db_fetch(
        db, "SELECT count(*) AS n FROM messages WHERE row_id = $1 AND col = 'partner_id'", order_id
    )
    assert partner_msgs[0]["n"] == 3  # seeded, changed, changed back: nothing rewritten

    # Moving to another date, then Undo: back on this day.
    later = day + datetime.timedelta(days=1)
    await editor.get_by_test_id("editor-date").fill(later.isoformat())
    await expect(page.get_by_test_id("order-editor")).to_be_hidden()
    await expect(order_card(page, order_id)).to_have_count(0)
    moved = toast(page, "Moved to")
    await moved.get_by_test_id("toast-action").click()
    await expect(order_card(page, order_id)).to_be_visible()
    await wait_synced(page)
    assert (await order_row(db, order_id))["delivery_date"] == day

    # Deleting the pre-order (still confirmed first), then Undo.
    editor = await open_order(page, order_id)
    await editor.get_by_test_id("editor-delete").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(order_card(page, order_id)).to_have_count(0)
    await wait_synced(page)
    assert (await order_row(db, order_id))["tombstone"] == 1
    await toast(page, "Pre-order deleted").get_by_test_id("toast-action").click()
    await expect(order_card(page, order_id)).to_be_visible()
    await wait_synced(page)
    assert (await order_row(db, order_id))["tombstone"] == 0
    assert await tombstones(db, order_id) == ["0", "1", "0"]


async def test_toasts_at_most_three_never_over_the_panels_controls(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    page = await new_page(width=390, height=844, is_mobile=True, has_touch=True)
    await sign_in(page, app.url, tenant.email("bob"))
    ids = await card_ids(page)
    # An order with at least four lines.
    for order_id in ids:
        if await order_card(page, order_id).get_by_test_id("flow-row").count() >= 4:
            break
    else:
        raise AssertionError("no order with four lines")
    editor = await open_order(page, order_id)
    for _ in range(4):
        await editor.get_by_test_id("flow-remove").first.click()
    await expect(page.get_by_test_id("info-toast")).to_have_count(3)
    # The panel keeps room below its last control: scrolled down, it sits above the toasts.
    delete = editor.get_by_test_id("editor-delete")
    await delete.scroll_into_view_if_needed()
    await editor.locator(".sheet-body").evaluate("el => el.scrollTo(0, el.scrollHeight)")
    stack = await page.get_by_test_id("toast-stack").bounding_box()
    box = await delete.bounding_box()
    assert stack is not None and box is not None
    assert box["y"] + box["height"] <= stack["y"], (box, stack)
    await screenshot(page, "phone-editor-toasts")
    # Undo from the newest toast, while the others stay.
    await page.get_by_test_id("info-toast").last.get_by_test_id("toast-action").click()
    await expect(page.get_by_test_id("info-toast")).to_have_count(2)


async def test_quantity_range_typed_weight_discarded_entries_and_same_day_warning(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    page = await new_page(width=390, height=844, is_mobile=True, has_touch=True)
    await sign_in(page, app.url, tenant.email("alice"))
    db = app.db_url
    order_id, *_ = await card_ids(page)
    editor = await open_order(page, order_id)

    # A new line, 2 units in one step: its weight is automatic.
    await editor.get_by_test_id("add-flow").click()
    await page.get_by_test_id("add-qty-inc").click()
    await expect(page.get_by_test_id("add-qty")).to_have_value("2")
    await pick(page, "SKU-1005")
    line = editor.get_by_test_id("flow-editor").filter(has_text="SKU-1005")
    await expect(line).to_have_count(1)
    flow_id = str(await line.get_attribute("data-flow-id"))
    await wait_synced(page)
    unit = float((await flow_row(db, flow_id))["weight"]) / 2
    qty = line.get_by_test_id("flow-qty-input")
    weight = line.get_by_test_id("flow-weight-input")
    await expect(line.get_by_test_id("flow-weight-auto")).to_be_visible()

    # Out of range or not whole: refused with a reason; Enter keeps the entry and its error,
    # Escape and leaving the field put the value back and say the entry was not saved.
    for bad, message in (
        ("0", "At least 1"),
        ("100001", "At most 100,000"),
        ("999999999", "At most 100,000"),
        ("2.5", "Whole numbers only"),
        ("-3", "At least 1"),
    ):
        await qty.fill(bad)
        await expect(line.get_by_test_id("flow-qty-input-error")).to_contain_text(message)
        await qty.press("Enter")
        await expect(qty).to_have_value(bad)
    await qty.press("Escape")
    await expect(page.get_by_test_id("order-editor")).to_be_visible()  # Escape was the field's
    await expect(qty).to_have_value("2")
    await expect(line.get_by_test_id("flow-qty-input-discarded")).to_contain_text(
        '"-3" was not saved'
    )
    await qty.fill("100001")
    await line.get_by_test_id("flow-product-button").focus()  # leave the field
    await expect(qty).to_have_value("2")
    await expect(line.get_by_test_id("flow-qty-input-discarded")).to_contain_text(
        '"100001" was not saved: At most 100,000'
    )
    await line.get_by_test_id("flow-qty-input-discarded").scroll_into_view_if_needed()
    await screenshot(page, "phone-editor-discarded")
    await set_number(qty, "100000")
    await expect(line.get_by_test_id("flow-qty-input-discarded")).to_have_count(0)
    cell = page.locator(f'[data-testid="flow-row"][data-flow-id="{flow_id}"]')
    await expect(cell.get_by_test_id("flow-qty")).to_have_text("100,000")
    await wait_synced(page)
    row = await flow_row(db, flow_id)
    assert row["quantity"] == 100000
    assert abs(float(row["weight"]) - round(unit * 100000, 3)) < 0.01  # automatic: follows

    # A typed weight is marked and kept when the quantity changes.
    await set_number(qty, "4")
    await set_number(weight, "9.5")
    await expect(line.get_by_test_id("flow-weight-typed")).to_be_visible()
    await line.get_by_test_id("flow-qty-input-inc").click()
    await expect(qty).to_have_value("5")
    await expect(weight).to_have_value("9.5")
    await wait_synced(page)
    row = await flow_row(db, flow_id)
    assert (row["quantity"], float(row["weight"])) == (5, 9.5)

    # Emptying the weight makes it automatic again: it follows the quantity once more.
    await set_number(weight, "")
    await expect(line.get_by_test_id("flow-weight-auto")).to_be_visible()
    await expect(line.get_by_test_id("flow-weight-typed")).to_have_count(0)
    await line.get_by_test_id("flow-qty-input-dec").click()
    await expect(qty).to_have_value("4")
    await wait_synced(page)
    row = await flow_row(db, flow_id)
    assert row["quantity"] == 4
    assert abs(float(row["weight"]) - round(unit * 4, 3)) < 0.001
    # So does its ↺ button.
    await set_number(weight, "3")
    await line.get_by_test_id("flow-weight-reset").click()
    await expect(line.get_by_test_id("flow-weight-auto")).to_be_visible()
    await expect(weight).not_to_have_value("3")
    await page.get_by_test_id("sheet-close").click()

    # A second pre-order for a partner and day that has one: warned, with the existing one
    # offered (opening it creates nothing).
    before = await card_ids(page)
    group = page.get_by_test_id("partner-group").filter(has=order_card(page, order_id))
    partner = await group.get_by_test_id("partner-name").evaluate("e => e.firstChild.textContent")
    await page.get_by_test_id("new-order").click()
    await pick(page, str(partner))
    warning = page.get_by_test_id("duplicate-warning")
    await expect(warning).to_contain_text(f"{partner} already has a pre-order for")
    await screenshot(page, "phone-duplicate-warning")
    await warning.get_by_test_id("duplicate-open").click()
    editor = page.get_by_test_id("order-editor")
    await expect(editor).to_be_visible()
    await expect(editor.get_by_test_id("flow-editor").filter(has_text="SKU-1005")).to_have_count(1)
    await page.get_by_test_id("sheet-close").click()
    assert await card_ids(page) == before


async def test_one_step_add_with_recent_products_first_and_status_from_the_list(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("alice"))
    db = app.db_url

    # A first pre-order for a partner: product and quantity (12, typed) in one step.
    partner = await free_partner(page)
    before = set(await card_ids(page))
    await page.get_by_test_id("new-order").click()
    await pick(page, partner)
    editor = page.get_by_test_id("order-editor")
    await expect(editor).to_be_visible()
    first_order = await new_card(page, before)
    await editor.get_by_test_id("add-flow").click()
    picker = page.get_by_test_id("picker")
    await set_number(picker.get_by_test_id("add-qty"), "12")
    await pick(page, "SKU-1042")
    line = editor.get_by_test_id("flow-editor")
    await expect(line).to_have_count(1)
    await expect(line.get_by_test_id("flow-qty-input")).to_have_value("12")
    flow_id = str(await line.get_attribute("data-flow-id"))
    await page.get_by_test_id("sheet-close").click()
    await expect(order_card(page, first_order).get_by_test_id("flow-qty")).to_have_text("12")
    await expect(order_card(page, first_order).get_by_test_id("flow-sku")).to_have_text("SKU-1042")
    await wait_synced(page)
    assert (await flow_row(db, flow_id))["quantity"] == 12

    # A second one for the same partner and day: warned, created anyway; adding a product
    # lists the partner's recent products first.
    before = set(await card_ids(page))
    await page.get_by_test_id("new-order").click()
    await pick(page, partner)
    await page.get_by_test_id("duplicate-warning").get_by_test_id("confirm-ok").click()
    await expect(editor).to_be_visible()
    second = await new_card(page, before)
    await editor.get_by_test_id("add-flow").click()
    options = picker.get_by_test_id("picker-option")
    await expect(options.first).to_contain_text("SKU-1042")
    await expect(options.first.get_by_test_id("picker-recent")).to_be_visible()
    recent = await picker.locator('[data-testid="picker-option"][data-recent]').count()
    assert recent >= 1
    # Everything marked recent comes before everything else.
    marks = await options.evaluate_all("els => els.map(e => e.dataset.recent === '1')")
    assert marks == sorted(marks, reverse=True)
    await screenshot(page, "editor-add-recent")
    await picker.get_by_test_id("picker-close").click()
    await page.get_by_test_id("sheet-close").click()

    # The status toggled from the list card, with one tap; the panel does not open.
    status = order_card(page, second).get_by_test_id("order-status")
    await expect(status).to_have_text("pending")
    await order_card(page, second).get_by_test_id("card-status-toggle").click()
    await expect(status).to_have_text("confirmed")
    await expect(editor).to_be_hidden()
    await wait_synced(page)
    assert (await order_row(db, second))["status"] == "confirmed"
    await order_card(page, second).get_by_test_id("card-status-toggle").click()
    await expect(status).to_have_text("pending")
    await wait_synced(page)
    assert (await order_row(db, second))["status"] == "pending"


async def focus_inside(page: Page, testid: str) -> bool:
    return bool(
        await page.evaluate(
            """id => {
                const el = document.querySelector(`[data-testid="${id}"]`);
                return el !== null && el.contains(document.activeElement);
            }""",
            testid,
        )
    )


async def focused_testid(page: Page) -> str | None:
    value = await page.evaluate("document.activeElement?.dataset?.testid ?? null")
    return None if value is None else str(value)


async def test_the_panel_keeps_focus_inside_and_returns_it(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("alice"))
    order_id, *_ = await card_ids(page)
    edit = order_card(page, order_id).get_by_test_id("order-edit")
    await edit.focus()
    await page.keyboard.press("Enter")
    editor = page.get_by_test_id("order-editor")
    await expect(editor).to_be_visible()
    assert await focus_inside(page, "order-editor")

    # Tab from the top goes to the first control; Shift+Tab from it wraps to the last.
    await page.keyboard.press("Tab")
    assert await focused_testid(page) == "sheet-close"
    await page.keyboard.press("Shift+Tab")
    assert await focused_testid(page) == "editor-delete"
    await page.keyboard.press("Tab")
    assert await focused_testid(page) == "sheet-close"
    # Around and around: never out of the panel.
    seen = set()
    for _ in range(60):
        await page.keyboard.press("Tab")
        assert await focus_inside(page, "order-editor")
        seen.add(await focused_testid(page))
    assert {"sheet-close", "editor-status-toggle", "add-flow", "editor-delete"} <= seen

    # A picker opened from the panel is a layer of its own: Escape closes it alone, and
    # focus goes back to the button that opened it.
    add = editor.get_by_test_id("add-flow")
    await add.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("picker")).to_be_visible()
    for _ in range(5):
        await page.keyboard.press("Shift+Tab")
        assert await focus_inside(page, "picker")
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("picker")).to_be_hidden()
    await expect(editor).to_be_visible()
    await expect(add).to_be_focused()

    # Escape closes the panel; focus is back on the card's Edit button.
    await page.keyboard.press("Escape")
    await expect(editor).to_be_hidden()
    await expect(edit).to_be_focused()


async def test_an_order_deleted_while_open_says_so_and_can_be_restored(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    carla = await new_page()
    alice = await new_page(width=390, height=844, is_mobile=True, has_touch=True)
    await sign_in(carla, app.url, tenant.email("carla"))
    await sign_in(alice, app.url, tenant.email("alice"))
    order_id, *_ = await card_ids(carla)
    editor = await open_order(carla, order_id)
    lines = await editor.get_by_test_id("flow-editor").count()

    # Alice deletes it; Carla's open panel stays and says who and when, read-only.
    alice_editor = await open_order(alice, order_id)
    await alice_editor.get_by_test_id("editor-delete").click()
    await alice.get_by_test_id("confirm-ok").click()
    await wait_synced(alice)
    banner = editor.get_by_test_id("editor-deleted")
    await expect(banner).to_be_visible(timeout=10_000)
    await expect(editor.get_by_test_id("editor-deleted-by")).to_have_text("Alice Martin")
    await expect(banner).to_contain_text(" at ")
    await expect(editor.get_by_test_id("flow-editor")).to_have_count(lines)
    await expect(editor.get_by_test_id("editor-status-toggle")).to_be_disabled()
    await expect(editor.get_by_test_id("add-flow")).to_be_disabled()
    await expect(editor.get_by_test_id("flow-qty-input").first).to_be_disabled()
    await expect(order_card(carla, order_id)).to_have_count(0)
    await screenshot(carla, "editor-deleted-while-open")

    # Restore: an ordinary edit; the order is back for both, with its lines.
    await editor.get_by_test_id("editor-restore").click()
    await expect(banner).to_have_count(0)
    await expect(editor.get_by_test_id("add-flow")).to_be_enabled()
    await expect(order_card(carla, order_id)).to_be_visible()
    await wait_synced(carla)

    async def restored() -> None:
        assert (await order_row(app.db_url, order_id))["tombstone"] == 0

    await eventually(restored)
    await expect(order_card(alice, order_id)).to_be_visible(timeout=10_000)
    await expect(order_card(alice, order_id).get_by_test_id("flow-row")).to_have_count(lines)
    assert await tombstones(app.db_url, order_id) == ["0", "1", "0"]
