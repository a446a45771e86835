"""Two reps edit the same pre-orders at once (the same field, and a delete against an edit):
both converge, each is told about the conflict they are part of, live updates arrive
without a reload, and the loser re-applies their value with one tap."""

from __future__ import annotations

from playwright.async_api import Locator, Page, expect

from .conftest import AppServer, NewPage, SeedTenant, db_fetch
from .helpers import (
    card_ids,
    close_editor,
    eventually,
    open_order,
    order_card,
    set_number,
    sign_in,
    wait_synced,
)


def flow_qty(page: Page, flow_id: str) -> Locator:
    return page.locator(f'[data-testid="flow-row"][data-flow-id="{flow_id}"]').get_by_test_id(
        "flow-qty"
    )


async def set_flow_qty(page: Page, order_id: str, flow_id: str, value: str) -> None:
    editor = await open_order(page, order_id)
    flow = editor.locator(f'[data-testid="flow-editor"][data-flow-id="{flow_id}"]')
    await set_number(flow.get_by_test_id("flow-qty-input"), value)
    await close_editor(page)


async def test_two_reps_converge_and_the_loser_is_told(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    alice = await new_page()
    bob = await new_page(width=390, height=844, is_mobile=True, has_touch=True)
    await sign_in(alice, app.url, tenant.email("alice"))
    await sign_in(bob, app.url, tenant.email("bob"))
    order_a, order_b, *_ = await card_ids(alice)
    flow_id = str(
        await order_card(alice, order_a)
        .get_by_test_id("flow-row")
        .first.get_attribute("data-flow-id")
    )

    # Live: Alice's change shows on Bob's screen within a couple of seconds, no reload.
    await set_flow_qty(alice, order_a, flow_id, "5")
    await expect(flow_qty(bob, flow_id)).to_have_text("5", timeout=5_000)

    # Both offline; both change the same quantity; Alice deletes B while Bob confirms it.
    await app.stop()
    for page in (alice, bob):
        await page.context.set_offline(True)
    await set_flow_qty(alice, order_a, flow_id, "11")
    editor = await open_order(alice, order_b)
    await editor.get_by_test_id("editor-delete").click()
    await alice.get_by_test_id("confirm-ok").click()
    await expect(order_card(alice, order_b)).to_have_count(0)
    await set_flow_qty(bob, order_a, flow_id, "22")
    editor = await open_order(bob, order_b)
    await editor.get_by_test_id("editor-status-toggle").click()
    await close_editor(bob)

    # Back online, Alice first; Bob's later edits win the quantity, Alice's delete wins B.
    await app.start()
    await alice.context.set_offline(False)
    await wait_synced(alice)
    await bob.context.set_offline(False)
    await wait_synced(bob)
    for page in (alice, bob):
        await expect(flow_qty(page, flow_id)).to_have_text("22")
        await expect(order_card(page, order_b)).to_have_count(0)

    async def server_state() -> tuple[object, object]:
        q = await db_fetch(
            app.db_url, "SELECT quantity FROM pre_order_flows WHERE id = $1::uuid", flow_id
        )
        t = await db_fetch(
            app.db_url, "SELECT tombstone FROM pre_orders WHERE id = $1::uuid", order_b
        )
        return q[0]["quantity"], t[0]["tombstone"]

    assert await server_state() == (22, 1)

    # Each is told: Alice lost the quantity, Bob lost his edit to Alice's delete.
    alice_toast = alice.get_by_test_id("conflict-toast").filter(has_text="quantity")
    await expect(alice_toast).to_contain_text("Bob Chen")
    await expect(alice_toast).to_contain_text('"22" replaced your "11"')
    bob_toast = bob.get_by_test_id("conflict-toast").filter(has_text="deleted")
    await expect(bob_toast).to_contain_text("Alice Martin deleted")

    # The conflicts list says what, which field, both values, who; one tap re-applies.
    await alice.get_by_test_id("nav-conflicts").click()
    lost = alice.locator('[data-testid="conflict-item"][data-yours="loser"]')
    await expect(lost).to_have_count(2)  # the quantity, and the weight that goes with it
    item = lost.filter(has=alice.get_by_test_id("conflict-field").get_by_text("quantity"))
    await expect(item).to_have_count(1)
    await expect(item.get_by_test_id("conflict-field")).to_have_text("quantity")
    await expect(item.get_by_test_id("conflict-mine")).to_have_text("11")
    await expect(item.get_by_test_id("conflict-theirs")).to_have_text("22")
    await expect(item.get_by_test_id("conflict-who")).to_have_text("Bob Chen")
    await item.get_by_test_id("conflict-reapply").click()
    await expect(item.get_by_test_id("conflict-reapplied")).to_be_visible()
    await wait_synced(alice)
    await expect(flow_qty(bob, flow_id)).to_have_text("11", timeout=5_000)

    async def reapplied() -> None:
        assert await server_state() == (11, 1)

    await eventually(reapplied)
