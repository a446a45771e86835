"""A third rep signs in on a fresh device: the snapshot (paged, with a progress bar) gives
them the whole tenant; their trie equals the server's. Screenshots for people to look at."""

from __future__ import annotations

import datetime

from playwright.async_api import Request, expect

from recap_client.browser import IDB_READ

from .conftest import PASSWORD, MakeApp, NewPage, SeedTenant, db_fetch
from .helpers import next_working_day, open_order, screenshot, wait_ready

PAGE_ROWS = 40


async def test_fresh_device_bootstraps_the_seeded_tenant(
    make_app: MakeApp, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    app = await make_app(snapshot_page_rows=PAGE_ROWS)
    tenant = await seed_tenant(days_back=14, days_ahead=14)
    page = await new_page()
    snapshots: list[str] = []

    def on_request(request: Request) -> None:
        if "/snapshot" in request.url:
            snapshots.append(request.url)

    page.on("request", on_request)
    await page.goto(app.url + "/")
    await page.get_by_test_id("signin-email").fill(tenant.email("carla"))
    await page.get_by_test_id("signin-password").fill(PASSWORD)
    await page.get_by_test_id("signin-submit").click()
    # The progress bar while the snapshot pages come in.
    await expect(page.get_by_test_id("bootstrap-count")).to_contain_text(" records")
    await expect(page.get_by_test_id("bootstrap-progress")).to_be_visible()
    await wait_ready(page)

    rows = await db_fetch(
        app.db_url,
        """SELECT (SELECT count(*) FROM partners) + (SELECT count(*) FROM products)
                + (SELECT count(*) FROM pre_orders) + (SELECT count(*) FROM pre_order_flows)
                + (SELECT count(*) FROM profiles) AS n""",
    )
    total = rows[0]["n"]
    assert len(snapshots) >= total // PAGE_ROWS + 2  # paged: every page, then the closing one
    root = await db_fetch(app.db_url, "SELECT hash, count FROM merkle_nodes WHERE path = ''")
    local = await page.evaluate(IDB_READ)
    assert (local["hash"], local["count"]) == (root[0]["hash"], root[0]["count"])
    assert local["messages"] == 0  # current rows, not the history
    assert local["registers"] == total

    day = next_working_day()
    for offset in (0, -1, -2):
        shown = day + datetime.timedelta(days=offset)
        if offset:
            await page.get_by_test_id("date-prev").click()
        await expect(page.get_by_test_id("date-input")).to_have_value(shown.isoformat())
        count = await db_fetch(
            app.db_url,
            "SELECT count(*) AS n FROM pre_orders WHERE delivery_date = $1 AND tombstone = 0",
            shown,
        )
        await expect(page.get_by_test_id("order-card")).to_have_count(count[0]["n"])

    await page.get_by_test_id("date-input").fill(day.isoformat())
    await expect(page.get_by_test_id("order-card").first).to_be_visible()
    await screenshot(page, "recap-desktop-1280x800")
    await page.set_viewport_size({"width": 390, "height": 844})
    await screenshot(page, "recap-phone-390x844")
    order_id = await page.get_by_test_id("order-card").first.get_attribute("data-order-id")
    await open_order(page, str(order_id))
    await screenshot(page, "recap-phone-editor")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await screenshot(page, "recap-desktop-editor")
