"""Two reps edit the same pre-orders at once (the same field, and a delete against an edit):
both converge, each is told about the conflict they are part of (one notice per edit),
live updates arrive without a reload, and the loser re-applies their value with one tap
(the rep it replaces is told). An offline edit of an order deleted meanwhile is told, with
Restore. A notice dismissed on one device is dismissed on all; a new device replays none;
toasts are at most three, hide by themselves and cover no control."""

from __future__ import annotations

import asyncio
import re

import aiohttp
from playwright.async_api import Locator, Page, expect

from recap_client import ClientReplica, SyncClient

from .conftest import PASSWORD, AppServer, NewPage, Seeded, SeedTenant, db_fetch
from .helpers import (
    card_ids,
    close_editor,
    eventually,
    open_order,
    order_card,
    screenshot,
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
    await expect(lost).to_have_count(1)  # one edit (with the weight, when it wrote one)
    await expect(alice.get_by_test_id("conflict-badge")).to_have_text("1")  # a notice, not fields
    item = lost.first
    await expect(item.get_by_test_id("conflict-field")).to_have_text(
        re.compile(r"^quantity( and weight)?$")
    )
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
    # Bob, whose value that replaced, is told.
    told = bob.get_by_test_id("conflict-toast").filter(has_text="re-applied")
    await expect(told).to_contain_text("Alice Martin re-applied their quantity", timeout=10_000)
    await expect(told).to_contain_text('"11" replaced your "22"')


async def login_token(app: AppServer, email: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(app.url + "/auth/login", json={"email": email, "password": PASSWORD}) as resp,
    ):
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["token"])


async def lose_quantities(app: AppServer, seeded: Seeded, flows: list[str]) -> None:
    """Alice (on a script of hers) and Bob change the same quantities at once; Bob's later
    edits win: one conflict notice per flow for every device of Alice's."""
    async with aiohttp.ClientSession() as http:
        mine = SyncClient(
            app.url, ClientReplica(), http, await login_token(app, seeded.email("alice"))
        )
        his = SyncClient(
            app.url, ClientReplica(), http, await login_token(app, seeded.email("bob"))
        )
        # Both have seen the seeded quantities (some are Alice's own: the seed's orders are
        # its reps'), so only their two edits are concurrent.
        await mine.sync()
        await his.sync()
        for i, flow in enumerate(flows):
            mine.replica.edit_field("pre_order_flows", flow, "quantity", 40 + i)
        await asyncio.sleep(0.01)
        for i, flow in enumerate(flows):
            his.replica.edit_field("pre_order_flows", flow, "quantity", 60 + i)
        await his.sync()
        await mine.sync()


async def day_flows(app: AppServer, order_ids: list[str]) -> list[str]:
    rows = await db_fetch(
        app.db_url,
        "SELECT id::text AS id FROM pre_order_flows WHERE pre_order_id = ANY($1::uuid[]) "
        "AND tombstone = 0 ORDER BY id",
        order_ids,
    )
    return [r["id"] for r in rows]


async def test_an_offline_edit_on_an_order_deleted_meanwhile_is_told_and_restored(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    alice, bob = await new_page(), await new_page()
    await sign_in(alice, app.url, tenant.email("alice"))
    await sign_in(bob, app.url, tenant.email("bob"))
    order_id = (await card_ids(alice))[0]
    card = order_card(alice, order_id)
    flow_id = str(await card.get_by_test_id("flow-row").first.get_attribute("data-flow-id"))
    partner = (
        await db_fetch(
            app.db_url,
            "SELECT p.name, o.delivery_date::text AS date FROM pre_orders o "
            "JOIN partners p ON p.id = o.partner_id AND p.tenant_id = o.tenant_id "
            "WHERE o.id = $1::uuid",
            order_id,
        )
    )[0]

    # Bob, offline, changes a line of the order; Alice deletes the order meanwhile.
    await bob.context.set_offline(True)
    await set_flow_qty(bob, order_id, flow_id, "77")
    editor = await open_order(alice, order_id)
    await editor.get_by_test_id("editor-delete").click()
    await alice.get_by_test_id("confirm-ok").click()
    await expect(order_card(alice, order_id)).to_have_count(0)
    await wait_synced(alice)
    await bob.context.set_offline(False)
    await wait_synced(bob)

    # Bob is told: which order (partner and date), who deleted it, what no longer shows.
    toast = bob.get_by_test_id("conflict-toast").filter(has_text="deleted")
    await expect(toast).to_have_count(1)
    await expect(toast).to_contain_text("Alice Martin deleted")
    await expect(toast).to_contain_text(partner["name"])
    await expect(toast).to_contain_text(partner["date"])
    await expect(toast).to_contain_text("quantity 77")
    await screenshot(bob, "conflicts-deleted-order-toast")
    # One tap restores it (an ordinary edit), with his line; Alice sees it come back.
    await toast.get_by_test_id("toast-reapply").click()
    await expect(toast).to_have_count(0)
    await wait_synced(bob)
    await expect(order_card(alice, order_id)).to_have_count(1, timeout=10_000)
    await expect(flow_qty(alice, flow_id)).to_have_text("77")
    rows = await db_fetch(
        app.db_url, "SELECT tombstone FROM pre_orders WHERE id = $1::uuid", order_id
    )
    assert rows[0]["tombstone"] == 0
    # And Alice is told who brought back what she deleted.
    told = alice.get_by_test_id("conflict-toast").filter(has_text="restored")
    await expect(told).to_contain_text("Bob Chen restored", timeout=10_000)
    await expect(told).to_contain_text(partner["name"])
    # The link opens the order in the recap page.
    await told.get_by_test_id("toast-open").click()
    await expect(alice.get_by_test_id("order-editor")).to_be_visible()
    assert order_id in alice.url


async def test_notices_settle_on_every_device_and_never_pile_up(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    laptop = await new_page()
    phone = await new_page(width=390, height=844, is_mobile=True, has_touch=True)
    await sign_in(laptop, app.url, tenant.email("alice"))
    await sign_in(phone, app.url, tenant.email("alice"))
    orders = await card_ids(laptop)
    flows = await day_flows(app, orders)
    assert len(flows) >= 5

    # Five of Alice's edits lost at once: at most three toasts, stacked, the rest counted.
    await lose_quantities(app, tenant, flows[:5])
    for page in (laptop, phone):
        toasts = page.get_by_test_id("conflict-toast")
        await expect(toasts).to_have_count(3, timeout=10_000)
        await expect(page.get_by_test_id("conflict-toasts-more")).to_have_text(
            "2 more in Conflicts"
        )
    # They cover none of the page's controls: each control's middle is itself on top.
    covered = await laptop.evaluate(
        """() => [...document.querySelectorAll('main button, main a, main input, .topbar button')]
            .filter((el) => { const r = el.getBoundingClientRect();
                return r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight; })
            .filter((el) => { const r = el.getBoundingClientRect();
                const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                return hit !== null && hit.closest('.conflict-toasts') !== null; })
            .map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert covered == []
    await screenshot(phone, "conflicts-toasts-phone-390")
    # They hide by themselves (the notices stay listed, open).
    await expect(laptop.get_by_test_id("conflict-toast")).to_have_count(0, timeout=15_000)

    # Dismissed on the laptop: dismissed on the phone too.
    await laptop.get_by_test_id("nav-conflicts").click()
    await phone.get_by_test_id("nav-conflicts").click()
    items = laptop.get_by_test_id("conflict-item")
    await expect(items).to_have_count(5)
    first = items.first
    await first.get_by_test_id("conflict-dismiss").click()
    await expect(first).to_have_attribute("data-state", "dismissed")
    await expect(
        phone.locator('[data-testid="conflict-item"][data-state="dismissed"]')
    ).to_have_count(1, timeout=10_000)
    rows = await db_fetch(
        app.db_url, "SELECT count(*) AS n FROM conflicts WHERE loser_state = 'dismissed'"
    )
    assert rows[0]["n"] == 1

    # Re-apply is offered only while the winning value stands: Bob changes one again.
    second = items.nth(1)
    await expect(second.get_by_test_id("conflict-reapply")).to_be_visible()
    assert await second.get_attribute("data-kind") == "superseded"
    async with aiohttp.ClientSession() as http:
        bob = SyncClient(
            app.url, ClientReplica(), http, await login_token(app, tenant.email("bob"))
        )
        for flow in flows[:5]:
            bob.replica.edit_field("pre_order_flows", flow, "quantity", 99)
        await bob.sync()
    await expect(laptop.get_by_test_id("conflict-reapply")).to_have_count(0, timeout=10_000)

    # Dismiss all, on every device; a new device of Alice's replays none of them.
    await laptop.get_by_test_id("conflicts-dismiss-all").click()
    await expect(laptop.locator('[data-testid="conflict-item"][data-state="open"]')).to_have_count(
        0
    )
    await expect(phone.locator('[data-testid="conflict-item"][data-state="open"]')).to_have_count(
        0, timeout=10_000
    )
    await expect(phone.get_by_test_id("conflicts-dismiss-all")).to_have_count(0)
    tablet = await new_page(width=800, height=1280)
    await sign_in(tablet, app.url, tenant.email("alice"))
    await wait_synced(tablet)
    await tablet.get_by_test_id("nav-conflicts").click()
    await expect(tablet.get_by_test_id("no-conflicts")).to_be_visible()
    await expect(tablet.get_by_test_id("conflict-toast")).to_have_count(0)
    # ...but hears of new ones.
    await lose_quantities(app, tenant, flows[5:6] or flows[:1])
    await expect(tablet.get_by_test_id("conflict-item")).to_have_count(1, timeout=10_000)
