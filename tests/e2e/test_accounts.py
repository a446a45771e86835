"""Accounts in the browser: a company signs up and invites a rep, an admin deactivates a
user, a rep revokes a lost device (which keeps its unsynced edits exportable), a demoted
rep's queued edit is refused and discarded, and a password reset link from the People page."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path

import asyncpg
from playwright.async_api import Page, WebSocket, expect

from seed import Stamper, new_id
from sync_server.database import _init_connection
from sync_server.storage.apply import apply_messages

from .conftest import PASSWORD, AppServer, NewPage, SeedTenant, db_fetch
from .helpers import (
    accept_invite,
    card_ids,
    close_editor,
    eventually,
    fill_password_pair,
    invite,
    open_order,
    open_people,
    order_card,
    pick,
    screenshot,
    set_number,
    sign_in,
    user_row,
    wait_ready,
    wait_synced,
)


async def add_catalog(db_url: str, admin_email: str) -> None:
    """A new company's partners and products, written on the server (the app has no
    catalog editor): every device of the tenant receives them like any edit."""
    rows = await db_fetch(
        db_url, "SELECT id::text, tenant_id::text FROM users WHERE email = $1", admin_email
    )
    admin_id, tenant_id = rows[0]["id"], rows[0]["tenant_id"]
    s = Stamper()
    for name, short in (("Cedar Market", "CED"), ("Harbor Foods", "HAR")):
        s.row("partners", new_id(), {"name": name, "short_name": short, "tombstone": 0})
    for name, sku, weight in (("Organic Apples", "SKU-1", 0.5), ("Bulk Onions", "SKU-2", 2.0)):
        s.row(
            "products", new_id(), {"name": name, "sku": sku, "unit_weight": weight, "tombstone": 0}
        )
    conn = await asyncpg.connect(db_url)
    try:
        await _init_connection(conn)
        await apply_messages(conn, tenant_id, admin_id, s.messages)
    finally:
        await conn.close()


async def test_a_company_signs_up_invites_a_rep_and_deactivates_them(
    app: AppServer, new_page: NewPage
) -> None:
    suffix = secrets.token_hex(3)
    admin_email, rep_email = f"owner-{suffix}@signup.example", f"rep-{suffix}@signup.example"
    admin = await new_page()
    await admin.goto(app.url + "/")
    await admin.get_by_test_id("signup-link").click()
    await admin.get_by_test_id("signup-company").fill("Fresh Start Produce")
    await admin.get_by_test_id("signup-name").fill("Olga Owner")
    await admin.get_by_test_id("signup-email").fill(admin_email)
    await fill_password_pair(admin, "owner-password")
    await screenshot(admin, "accounts-signup")
    await admin.get_by_test_id("form-submit").click()
    await wait_ready(admin)
    await expect(admin.get_by_test_id("no-orders")).to_be_visible()
    await expect(admin.get_by_test_id("me-name")).to_have_text("Olga Owner")
    await add_catalog(app.db_url, admin_email)

    await open_people(admin)
    await expect(user_row(admin, admin_email).get_by_test_id("user-role")).to_have_value("admin")
    link = await invite(admin, rep_email, "rep")
    assert link.startswith(app.url + "/#/accept-invite/")
    await expect(
        admin.locator(f'[data-testid="invite-row"][data-email="{rep_email}"]')
    ).to_be_visible()

    rep = await new_page()
    await accept_invite(rep, link, "Rita Rep", "rep-password")
    await expect(rep.get_by_test_id("nav-people")).to_have_count(0)
    await rep.get_by_test_id("new-order").click()
    await pick(rep, "Cedar")
    await close_editor(rep)
    (order_id,) = await card_ids(rep)
    await wait_synced(rep)

    # The admin's device receives it live, on the same day's page.
    await admin.get_by_test_id("nav-recap").click()
    group = admin.get_by_test_id("partner-group").filter(has=order_card(admin, order_id))
    await expect(group.get_by_test_id("partner-name")).to_contain_text("Cedar Market")

    # The invite was used: it is no longer pending; the rep is a user.
    await open_people(admin)
    await expect(admin.get_by_test_id("no-invites")).to_be_visible()
    await screenshot(admin, "accounts-people")
    row = user_row(admin, rep_email)
    await expect(row.get_by_test_id("user-role")).to_have_value("rep")

    # The rep, offline, changes a status: the edit waits in the outbox.
    status = await order_card(rep, order_id).get_by_test_id("order-status").text_content()
    await rep.context.set_offline(True)
    await open_order(rep, order_id)
    await rep.get_by_test_id("editor-status-toggle").click()
    # Deactivated: the rep's app stops syncing and says so once it reaches the server (at
    # once when online: the live socket is told its session ended).
    await row.get_by_test_id("user-deactivate").click()
    await admin.get_by_test_id("confirm-ok").click()
    await expect(row).to_have_attribute("data-active", "false")
    await rep.context.set_offline(False)
    notice = rep.get_by_test_id("account-disabled")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("deactivated")
    await screenshot(rep, "accounts-deactivated")
    await expect(rep.get_by_test_id("ended-unsynced")).to_contain_text("1 edit not synced")
    rows = await db_fetch(app.db_url, "SELECT status FROM pre_orders WHERE id = $1::uuid", order_id)
    assert rows[0]["status"] == status

    # Still deactivated, signing in again is refused; once reactivated, the device syncs on
    # with its edit.
    await rep.get_by_test_id("ended-sign-in").click()
    await rep.get_by_test_id("signin-password").fill("rep-password")
    await rep.get_by_test_id("signin-submit").click()
    await expect(rep.get_by_test_id("signin-error")).to_contain_text("deactivated")
    await row.get_by_test_id("user-reactivate").click()
    await expect(row).to_have_attribute("data-active", "true")
    await rep.get_by_test_id("signin-submit").click()
    await expect(rep.get_by_test_id("sync-status")).to_be_visible()
    toggled = "confirmed" if status == "pending" else "pending"

    async def on_server() -> None:
        rows = await db_fetch(
            app.db_url, "SELECT status FROM pre_orders WHERE id = $1::uuid", order_id
        )
        assert rows[0]["status"] == toggled

    await eventually(on_server)
    await wait_synced(rep)


async def test_an_idle_device_is_told_at_once_that_its_account_was_deactivated(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    """No action of the rep's: its live socket is told the session ended, and the app's
    sync learns why."""
    tenant = await seed_tenant(days_back=0, days_ahead=1)
    rep, admin = await new_page(), await new_page()
    hello = asyncio.Event()

    def on_socket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda data: hello.set() if "hello" in str(data) else None)

    rep.on("websocket", on_socket)
    await sign_in(rep, app.url, tenant.email("bob"))
    await sign_in(admin, app.url, tenant.email("carla"))
    await asyncio.wait_for(hello.wait(), 20)
    await open_people(admin)
    row = user_row(admin, tenant.email("bob"))
    await row.get_by_test_id("user-deactivate").click()
    await admin.get_by_test_id("confirm-ok").click()
    await expect(row).to_have_attribute("data-active", "false")
    await expect(rep.get_by_test_id("account-disabled")).to_be_visible(timeout=5_000)


async def test_a_revoked_device_stops_and_exports_its_unsynced_edits(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage, tmp_path: Path
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=2)
    phone, laptop = await new_page(), await new_page()
    await sign_in(phone, app.url, tenant.email("alice"))
    await sign_in(laptop, app.url, tenant.email("alice"))

    # The phone, offline, changes a quantity: the edit waits in its outbox.
    order_id, *_ = await card_ids(phone)
    await phone.context.set_offline(True)
    editor = await open_order(phone, order_id)
    flow = editor.get_by_test_id("flow-editor").first
    flow_id = str(await flow.get_attribute("data-flow-id"))
    await set_number(flow.get_by_test_id("flow-qty-input"), "321")
    await close_editor(phone)
    await expect(phone.get_by_test_id("unsynced-count")).not_to_have_text("0")

    # From the laptop's profile: My devices lists both; revoke the other one.
    await laptop.get_by_test_id("nav-profile").click()
    devices = laptop.get_by_test_id("my-devices").get_by_test_id("device-row")
    await expect(devices).to_have_count(2)
    await expect(laptop.get_by_test_id("device-this")).to_have_count(1)
    other = laptop.locator('[data-testid="device-row"]:not(:has([data-testid="device-this"]))')
    await other.get_by_test_id("device-revoke").click()
    await laptop.get_by_test_id("confirm-ok").click()
    await expect(other.get_by_test_id("device-state")).to_contain_text("revoked")
    await expect(other.get_by_test_id("device-revoke")).to_have_count(0)
    await screenshot(laptop, "accounts-my-devices")

    # Back online, the phone is told at its first request, and its edit is kept for export.
    await phone.context.set_offline(False)
    notice = phone.get_by_test_id("device-revoked")
    await expect(notice).to_be_visible()
    async with phone.expect_download() as download_info:
        await phone.get_by_test_id("export-unsynced").click()
    download = await download_info.value
    assert re.fullmatch(r"recap-unsynced-edits-.*\.json", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    exported = json.loads(saved.read_text())
    edits = [(m["row"], m["column"], m["value"]) for m in exported["messages"]]
    assert (flow_id, "quantity", 321) in edits
    rows = await db_fetch(
        app.db_url, "SELECT quantity FROM pre_order_flows WHERE id = $1::uuid", flow_id
    )
    assert rows[0]["quantity"] != 321

    # The laptop goes on syncing.
    await laptop.get_by_test_id("nav-recap").click()
    await wait_synced(laptop)

    # Signing out the revoked phone deletes its database: a fresh device, at the sign-in form.
    await phone.get_by_test_id("ended-sign-out").click()
    await phone.get_by_test_id("confirm-ok").click()
    await expect(phone.get_by_test_id("signin-form")).to_be_visible()
    await sign_in(phone, app.url, tenant.email("alice"))


def flow_qty_cell(page: Page, flow_id: str) -> str:
    return f'[data-testid="flow-row"][data-flow-id="{flow_id}"] [data-testid="flow-qty"]'


async def test_a_demoted_reps_queued_edit_is_refused_and_discarded(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=2)
    rep, admin = await new_page(), await new_page()
    await sign_in(rep, app.url, tenant.email("alice"))
    await sign_in(admin, app.url, tenant.email("carla"))
    order_id, *_ = await card_ids(rep)
    flow_id = str(
        await order_card(rep, order_id)
        .get_by_test_id("flow-row")
        .first.get_attribute("data-flow-id")
    )
    before = await rep.locator(flow_qty_cell(rep, flow_id)).inner_text()

    # Offline, the rep changes the quantity (and with it the weight): queued.
    await rep.context.set_offline(True)
    editor = await open_order(rep, order_id)
    flow = editor.locator(f'[data-testid="flow-editor"][data-flow-id="{flow_id}"]')
    await set_number(flow.get_by_test_id("flow-qty-input"), "77")
    await close_editor(rep)
    await expect(rep.locator(flow_qty_cell(rep, flow_id))).to_have_text("77")
    # refused edits are listed by field: the queued messages, not the rep's actions
    queued = int(await rep.get_by_test_id("unsynced-count").get_attribute("data-messages") or 0)
    assert queued >= 1

    # Meanwhile the admin makes them a manager (which ends their sessions).
    await open_people(admin)
    await (
        user_row(admin, tenant.email("alice")).get_by_test_id("user-role").select_option("manager")
    )
    await admin.get_by_test_id("confirm-ok").click()
    await expect(user_row(admin, tenant.email("alice")).get_by_test_id("user-role")).to_have_value(
        "manager"
    )

    # Back online: asked to sign in again; then the edits are refused, not stuck.
    await rep.context.set_offline(False)
    await rep.get_by_test_id("reauth").click()
    await rep.get_by_test_id("signin-password").fill(PASSWORD)
    await rep.get_by_test_id("signin-submit").click()
    refused = rep.get_by_test_id("refused-count")
    await expect(refused).to_have_text(f"{queued} edit{'' if queued == 1 else 's'} refused")
    await expect(rep.get_by_test_id("unsynced-count")).to_have_text("0")
    await expect(rep.locator(flow_qty_cell(rep, flow_id))).to_have_text("77")

    await refused.click()
    items = rep.get_by_test_id("refused-list").get_by_test_id("refused-item")
    await expect(items).to_have_count(queued)
    first = items.filter(has_text="quantity")
    await expect(first.get_by_test_id("refused-change")).to_have_text("quantity: 77")
    await expect(first.get_by_test_id("refused-was")).to_have_text(before)
    await expect(first.get_by_test_id("refused-reason")).to_contain_text("manager")
    await screenshot(rep, "accounts-refused")
    for _ in range(queued):
        await items.first.get_by_test_id("refused-discard").click()
        await expect(items).to_have_count(queued - 1 - _)
    await expect(rep.get_by_test_id("no-refused")).to_be_visible()
    await expect(refused).to_have_count(0)

    # The quantity is the server's again; as a manager the rep only confirms pre-orders.
    await rep.get_by_test_id("nav-recap").click()
    await expect(rep.locator(flow_qty_cell(rep, flow_id))).to_have_text(before)
    await expect(rep.get_by_test_id("new-order")).to_have_count(0)
    editor = await open_order(rep, order_id)
    await expect(editor.get_by_test_id("readonly-note")).to_be_visible()
    await expect(editor.get_by_test_id("flow-qty-input").first).to_have_attribute("readonly", "")
    await expect(editor.get_by_test_id("editor-delete")).to_have_count(0)
    status = await order_card(rep, order_id).get_by_test_id("order-status").text_content()
    await editor.get_by_test_id("editor-status-toggle").click()
    await close_editor(rep)
    toggled = "confirmed" if status == "pending" else "pending"

    async def on_server() -> None:
        rows = await db_fetch(
            app.db_url,
            """SELECT o.status, f.quantity FROM pre_orders o JOIN pre_order_flows f
                 ON f.tenant_id = o.tenant_id AND f.pre_order_id = o.id
               WHERE o.id = $1::uuid AND f.id = $2::uuid""",
            order_id,
            flow_id,
        )
        assert rows[0]["status"] == toggled
        assert str(rows[0]["quantity"]).removesuffix(".0") == before

    await eventually(on_server)
    await wait_synced(rep)
    await expect(rep.get_by_test_id("refused-count")).to_have_count(0)


async def test_a_password_reset_link_from_the_people_page(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=1)
    admin = await new_page()
    await sign_in(admin, app.url, tenant.email("carla"))
    await open_people(admin)
    await user_row(admin, tenant.email("bob")).get_by_test_id("user-reset-link").click()
    box = admin.get_by_test_id("reset-link")
    await expect(box).to_have_value(re.compile(r"/#/reset-password/[\w-]{16,}$"))
    link = await box.input_value()

    bob = await new_page()
    await bob.goto(link)
    await fill_password_pair(bob, "short")
    await bob.get_by_test_id("form-submit").click()
    await expect(bob.get_by_test_id("form-error")).to_contain_text("8 characters")
    await fill_password_pair(bob, "bobs-new-password")
    await bob.get_by_test_id("form-submit").click()
    await bob.get_by_test_id("reset-continue").click()

    # The old password no longer works; the new one does.
    await bob.get_by_test_id("signin-email").fill(tenant.email("bob"))
    await bob.get_by_test_id("signin-password").fill(PASSWORD)
    await bob.get_by_test_id("signin-submit").click()
    await expect(bob.get_by_test_id("signin-error")).to_contain_text("Wrong email or password")
    await bob.get_by_test_id("signin-password").fill("bobs-new-password")
    await bob.get_by_test_id("signin-submit").click()
    await wait_ready(bob)

    # A link works once.
    again = await new_page()
    await again.goto(link)
    await fill_password_pair(again, "another-password")
    await again.get_by_test_id("form-submit").click()
    await expect(again.get_by_test_id("form-error")).to_contain_text("already used")


async def test_a_taken_email_is_refused_and_a_password_is_changed_on_the_profile(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=1)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("bob"))
    await page.get_by_test_id("nav-profile").click()

    # Another account signs in with this email: the edit is refused (409 email_taken), the
    # name saved with it syncs, and discarding puts the email back.
    await page.get_by_test_id("profile-name").fill("Robert")
    await page.get_by_test_id("profile-email").fill(tenant.email("alice"))
    await page.get_by_test_id("profile-save").click()
    refused = page.get_by_test_id("refused-count")
    await expect(refused).to_have_text("1 edit refused")
    await expect(page.get_by_test_id("unsynced-count")).to_have_text("0")

    async def named() -> None:
        rows = await db_fetch(
            app.db_url, "SELECT name FROM profiles WHERE id = $1::uuid", tenant.users["bob"].id
        )
        assert rows[0]["name"] == "Robert"

    await eventually(named)
    await refused.click()
    item = page.get_by_test_id("refused-item")
    await expect(item.get_by_test_id("refused-record")).to_have_text("your profile")
    await expect(item.get_by_test_id("refused-reason")).to_have_text(
        "Another account signs in with this email."
    )
    async with page.expect_download() as download_info:
        await item.get_by_test_id("refused-export").click()
    exported = json.loads(Path(await (await download_info.value).path()).read_text())
    assert [(r["column"], r["value"], r["code"]) for r in exported["refused"]] == [
        ("email", tenant.email("alice"), "email_taken")
    ]
    await item.get_by_test_id("refused-discard").click()
    await expect(page.get_by_test_id("no-refused")).to_be_visible()
    await page.get_by_test_id("nav-profile").click()
    await expect(page.get_by_test_id("profile-email")).to_have_value(tenant.email("bob"))

    # Change the password: a wrong current one is said so; then the new one signs in.
    await page.get_by_test_id("password-current").fill("not-my-password")
    await page.get_by_test_id("password-new").fill("bobs-second-password")
    await page.get_by_test_id("password-again").fill("bobs-second-password")
    await page.get_by_test_id("password-save").click()
    await expect(page.get_by_test_id("password-error")).to_have_text(
        "The current password is wrong."
    )
    await page.get_by_test_id("password-current").fill(PASSWORD)
    await page.get_by_test_id("password-save").click()
    await expect(
        page.get_by_test_id("info-toast").filter(has_text="Password changed")
    ).to_be_visible()
    other = await new_page()
    await sign_in(other, app.url, tenant.email("bob"), "bobs-second-password")
    # This session goes on: it reads the devices again (both of Bob's, now).
    await page.get_by_test_id("nav-recap").click()
    await page.get_by_test_id("nav-profile").click()
    devices = page.get_by_test_id("my-devices").get_by_test_id("device-row")
    await expect(devices).to_have_count(2)
    await expect(page.get_by_test_id("reauth")).to_have_count(0)
