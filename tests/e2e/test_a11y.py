"""Accessibility: axe-core (frontend/node_modules/axe-core) run on every page and the edit
panel, on a laptop and on a phone: no serious or critical violation."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from .conftest import REPO, AppServer, NewPage, SeedTenant
from .helpers import open_order, sign_in

AXE = REPO / "frontend" / "node_modules" / "axe-core" / "axe.min.js"

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
  }));
}"""


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe's serious and critical violations on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = await page.evaluate(RUN_AXE)
    print(screen_log(violations))
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def screen_log(violations: list[dict[str, Any]]) -> str:
    return "axe: " + ", ".join(f"{v['id']} ({v['impact']})" for v in violations)


async def assert_accessible(page: Page, screen: str) -> None:
    found = await axe_violations(page)
    assert not found, f"{screen}: {found}"


async def test_axe_finds_nothing_serious_on_any_page(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    assert AXE.exists(), "frontend/node_modules/axe-core is missing: `cd frontend && npm ci`"
    tenant = await seed_tenant(days_back=0, days_ahead=3)
    for kw in ({}, {"width": 390, "height": 800, "is_mobile": True, "has_touch": True}):
        # The server's CSP forbids inline scripts; axe is injected as one.
        page = await new_page(bypass_csp=True, **kw)
        await page.goto(app.url + "/")
        await expect(page.get_by_test_id("signin-form")).to_be_visible()
        # axe is live: a button with no name, added for a moment, is found.
        await page.evaluate(
            "document.body.appendChild(Object.assign(document.createElement('button'), {id: 'x'}))"
        )
        assert "button-name" in {v["id"] for v in await axe_violations(page)}
        await page.evaluate("document.getElementById('x').remove()")
        await assert_accessible(page, "sign-in")
        await page.get_by_test_id("signup-link").click()
        await expect(page.get_by_test_id("signup-form")).to_be_visible()
        await assert_accessible(page, "sign-up")

        # An admin sees every page, People too.
        await sign_in(page, app.url, tenant.email("carla"))
        await assert_accessible(page, "recap")
        order_id = await page.get_by_test_id("order-card").first.get_attribute("data-order-id")
        editor = await open_order(page, str(order_id))
        await assert_accessible(page, "edit panel")
        await editor.get_by_test_id("add-flow").click()
        await expect(page.get_by_test_id("picker-option").first).to_be_visible()
        await assert_accessible(page, "product picker")
        await page.get_by_test_id("picker-close").click()
        # A line removed: its toast with Undo.
        await editor.get_by_test_id("flow-remove").first.click()
        await expect(page.get_by_test_id("info-toast").first).to_be_visible()
        await assert_accessible(page, "undo toast")
        await page.get_by_test_id("toast-action").first.click()
        await page.get_by_test_id("sheet-close").click()

        await page.get_by_test_id("nav-dashboard").click()
        await expect(page.get_by_test_id("order-row").first).to_be_visible()
        await expect(page.get_by_test_id("dash-figures")).to_be_visible()
        await assert_accessible(page, "dashboard")
        await page.get_by_test_id("nav-conflicts").click()
        await expect(page.locator(".conflicts-page")).to_be_visible()
        await assert_accessible(page, "conflicts")
        await page.get_by_test_id("nav-profile").click()
        await expect(page.get_by_test_id("device-row").first).to_be_visible()
        await assert_accessible(page, "profile")
        await page.get_by_test_id("nav-people").click()
        await expect(page.get_by_test_id("user-row").first).to_be_visible()
        await assert_accessible(page, "people")
        await page.evaluate("window.location.hash = '#/refused'")
        await expect(page.get_by_test_id("no-refused")).to_be_visible()
        await assert_accessible(page, "refused edits")
