"""Several tabs of one device share one replica and one sync loop; the profile is edited
offline-first like everything else; signing out warns about unsynced edits."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable

from playwright.async_api import FilePayload, WebSocket, expect

from .conftest import AppServer, NewPage, SeedTenant, db_fetch
from .helpers import (
    card_ids,
    close_editor,
    eventually,
    open_order,
    order_card,
    screenshot,
    sign_in,
    wait_synced,
)


def png(width: int, height: int) -> bytes:
    """A small gradient PNG (a 'photo' to upload as an avatar)."""
    raw = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x % 256, y % 256, 128))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def test_tabs_share_one_replica_and_one_sync_loop(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    first = await new_page()
    sockets: dict[str, int] = {"first": 0, "second": 0}

    def counter(name: str) -> Callable[[WebSocket], None]:
        def on_ws(ws: WebSocket) -> None:
            if "/live" in ws.url:
                sockets[name] += 1

        return on_ws

    first.on("websocket", counter("first"))
    await sign_in(first, app.url, tenant.email("alice"))
    second = await first.context.new_page()
    second.on("websocket", counter("second"))
    await second.goto(app.url + "/")  # no sign-in: the session is in IndexedDB
    await expect(second.get_by_test_id("order-card").first).to_be_visible()
    order_id, *_ = await card_ids(second)

    # An edit in the second tab shows in the first at once and is synced by the leader.
    status = await order_card(second, order_id).get_by_test_id("order-status").text_content()
    toggled = "confirmed" if status == "pending" else "pending"
    await open_order(second, order_id)
    await second.get_by_test_id("editor-status-toggle").click()
    await close_editor(second)
    await expect(order_card(first, order_id).get_by_test_id("order-status")).to_have_text(toggled)

    async def on_server(expected: str) -> None:
        rows = await db_fetch(
            app.db_url, "SELECT status FROM pre_orders WHERE id = $1::uuid", order_id
        )
        assert rows[0]["status"] == expected

    await eventually(lambda: on_server(toggled))
    assert sockets == {"first": 1, "second": 0}  # one live connection: one sync loop

    # The leader tab closes: the other takes over the sync loop.
    await first.close()
    await open_order(second, order_id)
    await second.get_by_test_id("editor-status-toggle").click()
    await close_editor(second)
    await eventually(lambda: on_server(status or "pending"))
    await wait_synced(second)
    assert sockets["second"] >= 1

    # Signing out with unsynced edits warns first, then clears the device.
    await app.stop()
    await open_order(second, order_id)
    await second.get_by_test_id("editor-status-toggle").click()
    await close_editor(second)
    await expect(second.get_by_test_id("unsynced-count")).to_have_text("1")
    await second.get_by_test_id("nav-profile").click()
    await second.get_by_test_id("sign-out").click()
    await expect(second.get_by_role("alertdialog")).to_contain_text("1 edit not synced yet")
    await second.get_by_test_id("confirm-ok").click()
    await expect(second.get_by_test_id("signin-form")).to_be_visible()
    await second.reload()
    await expect(second.get_by_test_id("signin-form")).to_be_visible()
    await app.start()


async def test_profile_is_edited_offline_first_and_synced(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=2)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("bob"))
    await page.get_by_test_id("nav-profile").click()
    await page.get_by_test_id("profile-name").fill("Robert Chen")
    await page.get_by_test_id("profile-email").fill("bob@")
    await expect(page.get_by_test_id("profile-email-error")).to_be_visible()
    await expect(page.get_by_test_id("profile-save")).to_be_disabled()
    await page.get_by_test_id("profile-email").fill("bob.chen@e2e.example")
    await page.get_by_test_id("profile-avatar-input").set_input_files(
        files=[FilePayload(name="me.png", mimeType="image/png", buffer=png(640, 480))]
    )
    avatar = page.get_by_test_id("profile-avatar-img")
    await expect(avatar).to_have_attribute("src", re.compile(r"^data:image/webp"))
    await page.get_by_test_id("profile-save").click()
    await expect(page.get_by_test_id("me-name")).to_have_text("Robert Chen")
    await page.reload()
    await expect(page.get_by_test_id("profile-name")).to_have_value("Robert Chen")
    await expect(page.get_by_test_id("profile-email")).to_have_value("bob.chen@e2e.example")
    await wait_synced(page)
    rows = await db_fetch(
        app.db_url,
        "SELECT name, email, avatar FROM profiles WHERE id = $1::uuid",
        tenant.users["bob"].id,
    )
    assert (rows[0]["name"], rows[0]["email"]) == ("Robert Chen", "bob.chen@e2e.example")
    assert rows[0]["avatar"].startswith("data:image/webp")
    assert len(rows[0]["avatar"]) < 200_000


async def test_profile_edits_from_two_devices_conflict_like_everything_else(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=2)
    laptop = await new_page()
    tablet = await new_page(width=800, height=1280, has_touch=True)  # a 10-inch tablet
    for page in (laptop, tablet):
        await sign_in(page, app.url, tenant.email("alice"))
        await page.get_by_test_id("nav-profile").click()
    await app.stop()
    for page, name in ((laptop, "Alice on the laptop"), (tablet, "Alice on the tablet")):
        await page.context.set_offline(True)
        await page.get_by_test_id("profile-name").fill(name)
        await page.get_by_test_id("profile-save").click()
        await expect(page.get_by_test_id("profile-unsynced")).to_be_visible()
    await app.start()
    for page in (laptop, tablet):
        await page.context.set_offline(False)
        await wait_synced(page)
    for page in (laptop, tablet):
        await expect(page.get_by_test_id("me-name")).to_have_text("Alice on the tablet")
    toast = laptop.get_by_test_id("conflict-toast")
    await expect(toast).to_contain_text("You, on another device, changed the name of your profile")
    await expect(tablet.get_by_test_id("conflict-toast")).to_contain_text(
        'replaced "Alice on the laptop" (from your other device)'
    )
    await toast.get_by_test_id("toast-reapply").click()
    await expect(toast).to_have_count(0)
    for page in (laptop, tablet):
        await expect(page.get_by_test_id("me-name")).to_have_text("Alice on the laptop")
    rows = await db_fetch(
        app.db_url, "SELECT name FROM profiles WHERE id = $1::uuid", tenant.users["alice"].id
    )
    assert rows[0]["name"] in ("Alice on the laptop", "Alice on the tablet")

    async def reapplied() -> None:
        rows = await db_fetch(
            app.db_url, "SELECT name FROM profiles WHERE id = $1::uuid", tenant.users["alice"].id
        )
        assert rows[0]["name"] == "Alice on the laptop"

    await eventually(reapplied)
    await screenshot(tablet, "tablet-800x1280-profile")
