"""The manager's dashboard: its figures are the server's /api/v1/summary when online, the same
figures from the local replica when offline (marked as such), and a status changed inline in
the orders table reaches the server through the normal sync."""

from __future__ import annotations

import csv
import datetime
import io
import math
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from .conftest import PASSWORD, AppServer, NewPage, SeedTenant, db_fetch
from .helpers import eventually, screenshot, sign_in, wait_synced


async def api_token(base_url: str, email: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base_url}/auth/login", json={"email": email, "password": PASSWORD}) as resp,
    ):
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return str(body["token"])


async def server_summary(base_url: str, token: str, date_from: str, date_to: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{base_url}/api/v1/summary",
            params={"from": date_from, "to": date_to, "top": "10"},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def shown_figures(page: Page) -> dict[str, Any]:
    """What the dashboard shows, in the summary's terms."""
    figures = page.get_by_test_id("dash-figures")
    statuses: dict[str, int] = {}
    for card in await figures.get_by_test_id("kpi-status").all():
        status = await card.get_attribute("data-status")
        count = await card.get_by_test_id("kpi-status-count").inner_text()
        statuses[str(status)] = int(count)
    days = await page.get_by_test_id("chart-per-day").get_attribute("data-days") or ""
    products = await page.get_by_test_id("chart-top-products").get_attribute("data-products")
    partners = await page.get_by_test_id("busy-partner").evaluate_all(
        "els => els.map(e => e.dataset.partnerId)"
    )
    return {
        "source": await figures.get_attribute("data-source"),
        "orders": int(await page.get_by_test_id("kpi-orders").inner_text()),
        "statuses": statuses,
        "quantity": float(
            await figures.get_by_test_id("kpi-quantity").get_attribute("data-value") or "nan"
        ),
        "weight": float(
            await figures.get_by_test_id("kpi-weight").get_attribute("data-value") or "nan"
        ),
        "days": [d for d in days.split(",") if d],
        "products": [p for p in (products or "").split(",") if p],
        "partners": [str(p) for p in partners],
    }


async def api_ids(base_url: str, token: str, query: str, n: int) -> list[str]:
    """The first n pre-order ids of GET /api/v1/preorders with `query`, page by page."""
    ids: list[str] = []
    cursor = ""
    async with aiohttp.ClientSession() as http:
        while len(ids) < n:
            url = f"{base_url}/api/v1/preorders?limit=20&{query}{cursor}"
            async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 200, await resp.text()
                body = await resp.json()
            ids += [o["id"] for o in body["items"]]
            if not body["next_cursor"]:
                break
            cursor = f"&cursor={body['next_cursor']}"
    return ids[:n]


async def table_ids(page: Page, pages: int) -> list[str]:
    """The order ids the table shows on its first `pages` pages (going forward from page 1),
    back on page 1 after."""
    rows = page.get_by_test_id("order-row")
    ids: list[str] = []
    for k in range(pages):
        await expect(page.get_by_test_id("orders-page")).to_have_text(f"Page {k + 1}")
        await expect(page.get_by_test_id("orders-table")).to_have_attribute("aria-busy", "false")
        ids += await rows.evaluate_all("els => els.map(e => e.dataset.orderId)")
        if k + 1 < pages:
            await page.get_by_test_id("orders-next").click()
    for k in range(pages - 1, 0, -1):
        await page.get_by_test_id("orders-prev").click()
        await expect(page.get_by_test_id("orders-page")).to_have_text(f"Page {k}")
    return ids


def expected_figures(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "orders": sum(s["pre_orders"] for s in summary["by_status"]),
        "statuses": {s["status"]: s["pre_orders"] for s in summary["by_status"]},
        "quantity": sum(s["quantity"] for s in summary["by_status"]),
        "weight": sum(s["weight"] for s in summary["by_status"]),
        "days": [f"{d['date']}:{d['pre_orders']}" for d in summary["per_day"] if d["pre_orders"]],
        "products": [p["product_id"] for p in summary["top_products"]],
        "partners": [p["partner_id"] for p in summary["busiest_partners"]],
    }


def assert_same(shown: dict[str, Any], summary: dict[str, Any], source: str) -> None:
    want = expected_figures(summary)
    assert shown["source"] == source
    for key in ("orders", "statuses", "days", "products", "partners"):
        assert shown[key] == want[key], (key, shown[key], want[key])
    assert math.isclose(shown["quantity"], want["quantity"], abs_tol=1e-6)
    assert math.isclose(shown["weight"], want["weight"], abs_tol=1e-6)


async def test_dashboard_figures_offline_mirror_and_inline_status(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage, db_url: str
) -> None:
    seeded = await seed_tenant()
    email = seeded.email("carla")  # the admin
    token = await api_token(app.url, email)
    page = await new_page(width=1400, height=1000)
    await sign_in(page, app.url, email)

    await page.get_by_test_id("nav-dashboard").click()
    await expect(page.get_by_test_id("dashboard")).to_be_visible()
    await expect(page.get_by_test_id("dash-figures")).to_have_attribute("data-source", "server")
    await expect(page.get_by_test_id("dash-offline")).to_be_hidden()
    date_from = await page.get_by_test_id("dash-from").input_value()
    date_to = await page.get_by_test_id("dash-to").input_value()
    summary = await server_summary(app.url, token, date_from, date_to)
    assert summary["by_status"], "the seeded tenant has pre-orders in the default range"
    assert_same(await shown_figures(page), summary, "server")

    # The orders table: pages from the API, sorted by the server across all pages.
    rows = page.get_by_test_id("order-row")
    await expect(rows.first).to_be_visible()
    assert await rows.count() == 20
    await expect(page.get_by_test_id("orders-prev")).to_be_disabled()
    await page.get_by_test_id("sort-partner_name").click()  # ascending
    by_partner = await api_ids(app.url, token, "sort=partner&order=asc", 40)
    assert await table_ids(page, 2) == by_partner
    await page.get_by_test_id("sort-partner_name").click()  # descending, back on page 1
    await expect(page.get_by_test_id("orders-page")).to_have_text("Page 1")
    assert await table_ids(page, 2) == await api_ids(app.url, token, "sort=partner&order=desc", 40)
    # The server's order is the partners' order across pages, not within one page.
    names = [n.lower() for n in await rows.locator("td:nth-child(3)").all_inner_texts()]
    assert names == sorted(names, reverse=True)

    # Search by partner: the server's filter, with the sort kept.
    needle = names[0][1:4].upper()
    await page.get_by_test_id("orders-search").fill(needle)
    want = await api_ids(app.url, token, f"sort=partner&order=desc&q={needle}", 20)
    assert want, needle

    async def searched() -> None:
        assert await rows.evaluate_all("els => els.map(e => e.dataset.orderId)") == want

    await eventually(searched)
    for name in await rows.locator("td:nth-child(3)").all_inner_texts():
        assert needle.lower() in name.lower()

    # Export: a CSV download of every order of the table's filter and sort (all pages).
    async with page.expect_download() as info:
        await page.get_by_test_id("orders-export").click()
    download = await info.value
    assert download.suggested_filename.endswith(".csv")
    header, *exported = list(csv.reader(io.StringIO(Path(await download.path()).read_text())))
    assert header[:5] == ["id", "created_at", "delivery_date", "partner_id", "partner_name"]
    assert [r[0] for r in exported] == await api_ids(
        app.url, token, f"sort=partner&order=desc&q={needle}", 100_000
    )
    assert exported[: len(want)] and [r[0] for r in exported[: len(want)]] == want
    assert all(needle.lower() in r[4].lower() for r in exported)
    await page.get_by_test_id("orders-search").fill("")
    await page.get_by_test_id("sort-created_at").click()
    await page.get_by_test_id("sort-created_at").click()  # newest first again

    async def newest_first() -> None:
        assert await table_ids(page, 1) == await api_ids(app.url, token, "", 20)

    await eventually(newest_first)

    # Who created each order: the seeded orders are Alice's and Bob's; sortable on the server.
    creators = await rows.get_by_test_id("order-row-creator").all_inner_texts()
    assert set(creators) == {"Alice Martin", "Bob Chen"}, creators
    await page.get_by_test_id("sort-created_by_name").click()  # ascending
    assert await table_ids(page, 2) == await api_ids(app.url, token, "sort=creator&order=asc", 40)
    creators = await rows.get_by_test_id("order-row-creator").all_inner_texts()
    assert creators == sorted(creators) and creators[0] == "Alice Martin"
    await page.get_by_test_id("sort-created_at").click()
    await page.get_by_test_id("sort-created_at").click()
    await eventually(newest_first)

    # Offline: the same figures, from this device's replica, clearly marked.
    await page.context.set_offline(True)
    await page.get_by_test_id("dash-refresh").click()
    await expect(page.get_by_test_id("dash-offline")).to_be_visible()
    await expect(page.get_by_test_id("dash-offline")).to_contain_text("may be stale")
    await expect(page.get_by_test_id("dash-figures")).to_have_attribute("data-source", "local")
    assert_same(await shown_figures(page), summary, "local")
    await expect(page.get_by_test_id("orders-page")).to_contain_text(" of ")
    await page.context.set_offline(False)
    await page.get_by_test_id("dash-refresh").click()
    await expect(page.get_by_test_id("dash-offline")).to_be_hidden()
    await expect(page.get_by_test_id("dash-figures")).to_have_attribute("data-source", "server")
    # The table is the server's page again (a local page says "Page 1 of N"), so the row
    # picked below is one the next server read still shows.
    await expect(page.get_by_test_id("orders-page")).to_have_text("Page 1")
    await wait_synced(page)

    # Change one order's status inline: a local edit that syncs to the server.
    row = rows.first
    order_id = str(await row.get_attribute("data-order-id"))
    before = await row.get_by_test_id("order-row-status").input_value()
    after = "pending" if before == "confirmed" else "confirmed"
    await row.get_by_test_id("order-row-status").select_option(after)
    await expect(
        page.locator(f'[data-testid="order-row"][data-order-id="{order_id}"]').get_by_test_id(
            "order-row-status"
        )
    ).to_have_value(after)
    await wait_synced(page)

    async def on_server() -> None:
        rec = await db_fetch(db_url, "SELECT status FROM pre_orders WHERE id = $1::uuid", order_id)
        assert rec[0]["status"] == after, (rec, after)

    await eventually(on_server)

    # The figures follow (the page re-reads after each sync; the server's cache is invalidated).
    new_summary = await server_summary(app.url, token, date_from, date_to)
    assert new_summary["by_status"] != summary["by_status"]

    async def figures_follow() -> None:
        await page.get_by_test_id("dash-refresh").click()
        assert_same(await shown_figures(page), new_summary, "server")

    await eventually(figures_follow)

    # The per-day chart covers exactly the chosen range: 60 days are 60 bars, not 30.
    start = datetime.date.fromisoformat(date_from)
    end = start + datetime.timedelta(days=59)
    await page.get_by_test_id("dash-to").fill(end.isoformat())
    chart = page.get_by_test_id("chart-per-day")
    await expect(chart).to_have_attribute("data-count", "60")
    await expect(chart).to_have_attribute("data-first", start.isoformat())
    await expect(chart).to_have_attribute("data-last", end.isoformat())
    await expect(chart).to_contain_text(f"{start.isoformat()} to {end.isoformat()}")
    assert_same(
        await shown_figures(page),
        await server_summary(app.url, token, start.isoformat(), end.isoformat()),
        "server",
    )
    await screenshot(page, "dashboard")
