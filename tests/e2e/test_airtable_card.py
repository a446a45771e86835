"""The dashboard's Airtable card, against the local fake of Airtable's API
(tests/airtable/fake_airtable.py) and the real server: an admin connects a base through the
REST API, presses "Sync now" (busy while the run is under way, then ok with the run's counts),
sees a wrong API key's error after the next run, and the status is unavailable offline. A rep
never sees the card, and the rep's dashboard never asks for the connector."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, Request, expect

from tests.airtable.fake_airtable import FakeAirtable, order_line_fields

from .conftest import PASSWORD, AppServer, MakeApp, NewPage, SeedTenant
from .helpers import next_working_day, screenshot, sign_in

KEY = "patRecapE2E.0123456789abcdef"
BASE = "appRecapE2E0001"
TABLE = "Orders"
API = "/api/v1/connectors/airtable"
PENALTY_S = 1.0


class Gate:
    """Holds Airtable's answers while shut, so the test can look at the card mid-run."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.waiting = asyncio.Event()

    def shut(self) -> None:
        self.open.clear()
        self.waiting.clear()

    def release(self) -> None:
        self.open.set()

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not self.open.is_set():
            self.waiting.set()
            await self.open.wait()
        return await handler(request)


@pytest.fixture
async def airtable() -> AsyncIterator[tuple[FakeAirtable, Gate]]:
    fake = FakeAirtable(api_key=KEY, rate_per_s=5, penalty_s=PENALTY_S)
    fake.add_table(BASE, "tblOrders", TABLE, order_line_fields())
    gate = Gate()
    fake.app.middlewares.append(gate.middleware)  # before start(): the app is not frozen yet
    yield fake, gate
    gate.release()
    await fake.close()


async def call(
    base_url: str, method: str, path: str, email: str, body: Any = None
) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base_url}/auth/login", json={"email": email, "password": PASSWORD}
        ) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["token"]
        async with http.request(
            method, base_url + path, json=body, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            text = await resp.text()
            return resp.status, (await resp.json()) if text else None


async def connect(app: AppServer, email: str, key: str) -> dict[str, Any]:
    status, body = await call(
        app.url,
        "PUT",
        API,
        email,
        {"base_id": BASE, "table": TABLE, "api_key": key, "schedule_s": 0},
    )
    assert status == 200, body
    assert isinstance(body, dict)
    return body


async def open_dashboard(page: Page) -> None:
    await page.get_by_test_id("nav-dashboard").click()
    await expect(page.get_by_test_id("dashboard")).to_be_visible()
    await expect(page.get_by_test_id("dash-figures")).to_have_attribute("data-source", "server")


async def test_airtable_card_admin_sync_error_offline_and_rep(
    make_app: MakeApp,
    seed_tenant: SeedTenant,
    new_page: NewPage,
    airtable: tuple[FakeAirtable, Gate],
) -> None:
    fake, gate = airtable
    day = next_working_day().isoformat()
    rows = [
        ("AT-1", "Airtable Grocer", "confirmed", "Airtable Apples", 4),
        ("AT-1", "Airtable Grocer", "confirmed", "Airtable Pears", 6),
        ("AT-2", "Airtable Deli", "pending", "Airtable Apples", 2),
        ("AT-2", "Airtable Deli", "pending", "Airtable Plums", -5),  # a problem: left out
    ]
    for order, partner, state, product, quantity in rows:
        fake.user_create(
            BASE,
            TABLE,
            {
                "Order": order,
                "Partner": partner,
                "Delivery date": day,
                "Status": state,
                "Product": product,
                "Quantity": quantity,
            },
        )
    url = await fake.start()
    app = await make_app(airtable_api_url=url, airtable_penalty_s=PENALTY_S)
    # A small tenant: its orders are all written back to Airtable on the first run.
    seeded = await seed_tenant(days_back=0, days_ahead=3, partners=3, products=8)
    carla = seeded.email("carla")  # the admin
    connected = await connect(app, carla, KEY)
    assert connected["configured"] is True and connected["state"] == "idle", connected

    page = await new_page(width=1400, height=1000)
    await sign_in(page, app.url, carla)
    await open_dashboard(page)
    card = page.get_by_test_id("airtable-card")
    await expect(card).to_be_visible()
    await expect(card.get_by_test_id("airtable-state")).to_have_attribute("data-state", "idle")
    await expect(card.get_by_test_id("airtable-base")).to_have_text(BASE)
    await expect(card.get_by_test_id("airtable-table")).to_have_text(TABLE)
    await expect(card.get_by_test_id("airtable-target")).to_contain_text("only on demand")
    await expect(card.get_by_test_id("airtable-never-run")).to_be_visible()
    await expect(card.get_by_test_id("airtable-error")).to_have_count(0)

    # Sync now: busy while Airtable has not answered, then ok with the run's figures.
    button = card.get_by_test_id("airtable-sync")
    await expect(button).to_have_text("Sync now")
    gate.shut()
    await button.click()
    await asyncio.wait_for(gate.waiting.wait(), timeout=15)
    await expect(button).to_be_disabled()
    await expect(button).to_have_text("Syncing…")
    await expect(card).to_have_attribute("aria-busy", "true")
    gate.release()
    await expect(card.get_by_test_id("airtable-state")).to_have_attribute(
        "data-state", "ok", timeout=30_000
    )
    await expect(button).to_be_enabled()
    await expect(button).to_have_text("Sync now")
    await expect(card.get_by_test_id("airtable-read")).to_have_attribute("data-value", "4")
    await expect(card.get_by_test_id("airtable-read")).to_have_text("4")

    status, body = await call(app.url, "GET", API, carla)
    assert status == 200, body
    run = body["last_run"]
    assert run["status"] == "ok" and run["records_read"] == 4, run
    written = run["records_created"] + run["records_updated"] + run["records_deleted"]
    assert run["records_created"] > 0, "the seeded orders were written back"
    await expect(card.get_by_test_id("airtable-imported")).to_have_attribute(
        "data-value", str(run["records_imported"])
    )
    await expect(card.get_by_test_id("airtable-written")).to_have_attribute(
        "data-value", str(written)
    )
    await expect(card.get_by_test_id("airtable-conflicts")).to_have_attribute(
        "data-value", str(run["conflicts"])
    )
    last_run = card.get_by_test_id("airtable-last-run")
    await expect(last_run).to_have_attribute("data-trigger", "manual")
    await expect(last_run).to_have_attribute("data-status", "ok")
    await expect(last_run).to_contain_text("manual")
    await expect(card.get_by_test_id("airtable-last-run-at")).to_have_text("just now")
    await expect(card.get_by_test_id("airtable-error")).to_have_count(0)
    assert len(fake.records(BASE, TABLE)) == 4 + run["records_created"]
    problems = card.get_by_test_id("airtable-problems")
    await expect(problems).to_have_attribute("data-count", str(len(run["problems"])))
    await expect(problems).to_contain_text("1 problem")
    assert len(run["problems"]) == 1, run["problems"]
    await expect(problems.get_by_test_id("airtable-problem")).to_have_text(run["problems"][0])
    await expect(problems.get_by_test_id("airtable-problem")).to_contain_text("quantity -5")
    await card.scroll_into_view_if_needed()
    await screenshot(page, "airtable-card")

    # A wrong API key: the next run fails (502), and the card says why, prominently.
    await connect(app, carla, "patWrongKey.0000")
    await button.click()
    await expect(card.get_by_test_id("airtable-state")).to_have_attribute(
        "data-state", "error", timeout=30_000
    )
    error = card.get_by_test_id("airtable-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("refused the API key")
    await expect(error).to_contain_text(BASE)
    await expect(button).to_be_enabled()
    await expect(last_run).to_have_attribute("data-status", "error")
    status, body = await call(app.url, "GET", API, carla)
    assert body["state"] == "error" and "refused the API key" in body["last_error"], body
    await card.scroll_into_view_if_needed()
    await screenshot(page, "airtable-card-error")

    # Offline: the dashboard's figures come from this device; the connector's status cannot.
    await page.context.set_offline(True)
    await page.get_by_test_id("dash-refresh").click()
    await expect(page.get_by_test_id("dash-offline")).to_be_visible()
    await expect(card.get_by_test_id("airtable-offline")).to_contain_text("unavailable offline")
    await expect(card.get_by_test_id("airtable-sync")).to_have_count(0)
    await page.context.set_offline(False)
    await page.get_by_test_id("dash-refresh").click()
    await expect(card.get_by_test_id("airtable-state")).to_have_attribute("data-state", "error")

    # A rep: no card, and not one request for the connector (so no 403s either).
    rep = await new_page(width=1400, height=1000)
    asked: list[str] = []

    def on_request(request: Request) -> None:
        if "/connectors/" in request.url:
            asked.append(request.url)

    rep.on("request", on_request)
    await sign_in(rep, app.url, seeded.email("alice"))
    await open_dashboard(rep)
    await expect(rep.get_by_test_id("order-row").first).to_be_visible()
    await expect(rep.get_by_test_id("airtable-card")).to_have_count(0)
    assert asked == []
    status, _ = await call(app.url, "GET", API, seeded.email("alice"))
    assert status == 403
