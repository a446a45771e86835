"""An expired session keeps every edit on the device; signing in again (same rep) syncs them."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import expect

from .conftest import PASSWORD, MakeApp, NewPage, SeedTenant, db_fetch
from .helpers import card_ids, close_editor, eventually, open_order, order_card, sign_in

TTL_S = 8


async def test_expired_session_keeps_edits_until_signed_in_again(
    make_app: MakeApp, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    app = await make_app(token_ttl_s=TTL_S)
    tenant = await seed_tenant(days_back=0, days_ahead=2)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("alice"))
    # Timed from after the sign-in: the session was made before it returned. Timed from
    # before, a login slower than a second (a loaded machine) left the session alive at
    # the edit, which then synced.
    signed_in = time.monotonic()
    order_id, *_ = await card_ids(page)
    await asyncio.sleep(max(0.0, TTL_S + 1 - (time.monotonic() - signed_in)))

    status = await order_card(page, order_id).get_by_test_id("order-status").text_content()
    toggled = "confirmed" if status == "pending" else "pending"
    await open_order(page, order_id)
    await page.get_by_test_id("editor-status-toggle").click()
    await close_editor(page)
    await expect(page.get_by_test_id("reauth")).to_be_visible()
    await expect(page.get_by_test_id("unsynced-count")).to_have_text("1")

    await page.get_by_test_id("reauth").click()
    await expect(page.get_by_test_id("signin-email")).to_have_value(tenant.email("alice"))
    await page.get_by_test_id("signin-password").fill(PASSWORD)
    await page.get_by_test_id("signin-submit").click()
    await expect(page.get_by_test_id("unsynced-count")).to_have_text("0")
    await expect(page.get_by_test_id("reauth")).to_have_count(0)

    async def on_server() -> None:
        rows = await db_fetch(
            app.db_url, "SELECT status FROM pre_orders WHERE id = $1::uuid", order_id
        )
        assert rows[0]["status"] == toggled

    await eventually(on_server)
