"""The sync bar people trust: waiting edits counted as the rep's actions, the last sync with
its date when it was not today, "Offline" within seconds of the server going away (with no
`offline` event from the browser), and "Sync now" saying what it did."""

from __future__ import annotations

import asyncio
import datetime
import re
import time

from playwright.async_api import Page, Route, expect

from .conftest import AppServer, NewPage, SeedTenant
from .helpers import (
    card_ids,
    close_editor,
    on_device_db,
    open_order,
    pick,
    screenshot,
    set_number,
    sign_in,
    wait_sw,
    wait_synced,
)

#: en-GB's short month names (as Chromium's ICU writes them).
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sept", "Oct", "Nov", "Dec"]


async def test_waiting_edits_are_counted_as_actions(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("alice"))
    first, second, *_ = await card_ids(page)
    await page.context.set_offline(True)
    await expect(page.get_by_test_id("net-state")).to_have_text("Offline")

    # 1: a status; 2: a line's quantity (the app also writes its weight); 3: a new pre-order
    # (several fields of one row).
    editor = await open_order(page, first)
    await editor.get_by_test_id("editor-status-toggle").click()
    await close_editor(page)
    editor = await open_order(page, second)
    flow = editor.get_by_test_id("flow-editor").first
    await set_number(flow.get_by_test_id("flow-qty-input"), "41")
    await close_editor(page)
    await page.get_by_test_id("new-order").click()
    await pick(page, "Cedar")
    await close_editor(page)

    count = page.get_by_test_id("unsynced-count")
    await expect(count).to_have_text("3")
    await expect(page.get_by_test_id("sync-status")).to_contain_text("3 edits waiting")
    # ... while the outbox holds more messages than that (quantity and weight, new fields).
    assert int(await count.get_attribute("data-messages") or 0) > 3

    await page.context.set_offline(False)
    await wait_synced(page)
    await expect(page.get_by_test_id("sync-status")).to_contain_text("0 edits waiting")


async def write_last_sync(page: Page, at_ms: int) -> None:
    """Store a last sync at `at_ms` in the replica's status (straight into IndexedDB)."""
    await on_device_db(
        page,
        """async (db, at, ask) => {
          const tx = db.transaction('meta', 'readwrite');
          const meta = tx.objectStore('meta');
          const old = await ask(meta.get('status'));
          meta.put({ key: 'status', value: { ...old.value, lastSyncAt: at, at: Date.now() } });
          await new Promise((resolve, reject) => {
            tx.oncomplete = resolve;
            tx.onerror = () => reject(tx.error);
          });
        }""",
        at_ms,
    )


async def test_last_sync_shows_its_date_when_not_today(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=2)
    page = await new_page(locale="en-GB", timezone_id="UTC")
    await sign_in(page, app.url, tenant.email("alice"))
    await wait_sw(page)
    # Today: the time alone.
    await expect(page.get_by_test_id("last-sync")).to_have_text(re.compile(r"^Synced \d\d:\d\d$"))
    # Let the live socket's own sync (its hello prompts one) finish first: one still in
    # flight when the server stops could record its success after the write below.
    await asyncio.sleep(1)
    await wait_synced(page)

    # The server is gone (so nothing syncs again), the last sync was three days ago.
    await app.stop()
    await expect(page.get_by_test_id("net-state")).to_have_text("Offline")
    now = datetime.datetime.now(datetime.UTC)
    then = (now - datetime.timedelta(days=3)).replace(hour=14, minute=5, second=0, microsecond=0)
    await write_last_sync(page, int(then.timestamp() * 1000))
    await page.reload()
    year = f" {then.year}" if then.year != now.year else ""
    expected = f"Synced {then.day} {MONTHS[then.month - 1]}{year} 14:05"
    await expect(page.get_by_test_id("last-sync")).to_have_text(expected)
    await expect(page.get_by_test_id("net-state")).to_have_text("Offline")
    await screenshot(page, "sync-bar-old-sync")


async def test_offline_shows_within_5_s_of_the_server_going_away(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=2)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("alice"))
    net = page.get_by_test_id("net-state")
    await expect(net).to_have_text("Online")
    # Let the live socket settle (its hello prompts a sync of its own).
    await asyncio.sleep(1)
    await wait_synced(page)

    # The server goes away; the browser itself stays online (no `offline` event).
    lost = time.monotonic()
    await app.stop()
    remaining = 5.0 - (time.monotonic() - lost)
    await expect(net).to_have_text("Offline", timeout=max(0.0, remaining) * 1000)
    assert time.monotonic() - lost <= 5.0
    assert await page.evaluate("navigator.onLine") is True

    # Back: online again within a few seconds, without a tap, and edits sync.
    back = time.monotonic()
    await app.start()
    await expect(net).to_have_text("Online", timeout=8000)
    assert time.monotonic() - back <= 8.0
    await wait_synced(page)


async def test_sync_now_says_what_it_did(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=2)
    # No service worker: page.route sees every request of the page.
    page = await new_page(service_workers="block")
    await sign_in(page, app.url, tenant.email("alice"))
    feedback = page.get_by_test_id("sync-feedback")
    sync_now = page.get_by_test_id("sync-now")
    await expect(feedback).to_have_text("")

    # Online: "Syncing…" while the sync runs (held for a moment here), then "Up to date",
    # which goes away after a few seconds.
    async def slow(route: Route) -> None:
        await asyncio.sleep(1.5)
        await route.continue_()

    await page.route("**/sync", slow)
    await sync_now.click()
    await expect(feedback).to_have_text("Syncing…")
    await expect(sync_now).to_have_attribute("aria-busy", "true")
    await expect(feedback).to_have_text("Up to date")
    await screenshot(page, "sync-bar-up-to-date")
    await expect(feedback).to_have_text("", timeout=8000)
    await page.unroute("**/sync")

    # The server stops answering: every request fails (the live socket is not routed).
    async def gone(route: Route) -> None:
        await route.abort("connectionrefused")

    await page.route("**/*", gone)
    await sync_now.click()
    await expect(feedback).to_have_text("Offline: will sync when the server is reachable")
    await expect(page.get_by_test_id("net-state")).to_have_text("Offline")
    await screenshot(page, "sync-bar-sync-now-offline")
    await expect(feedback).to_have_text("", timeout=8000)

    # Back: the next tap syncs.
    await page.unroute("**/*")
    await sync_now.click()
    await expect(feedback).to_have_text("Up to date")
    await expect(page.get_by_test_id("net-state")).to_have_text("Online")
    await wait_synced(page)
