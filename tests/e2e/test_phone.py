"""Phones, 360 to 430 px wide: no page or panel is wider than the screen, and every control
of the top bar (and of the sync bar under it) is on screen and at least 44 px tall. Each
screen is saved to test-artifacts/phone-<width>-<screen>.png."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from .conftest import ARTIFACTS, AppServer, NewPage, SeedTenant
from .helpers import (
    card_ids,
    close_editor,
    open_order,
    order_card,
    screenshot,
    set_number,
    sign_in,
    wait_synced,
)
from .test_a11y import assert_accessible

WIDTHS = (360, 390, 430)
HEIGHT = 800
PHONE: dict[str, Any] = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}

#: What sticks out: the document's width, every element beyond the screen's edges (unless
#: inside a region that scrolls sideways on purpose, `.table-wrap`), and every box whose
#: content is wider than it (a clipped panel, a truncated label).
LAYOUT_JS = """(width) => {
  const name = (el) => {
    const id = el.getAttribute('data-testid');
    const classes = typeof el.className === 'string' ? el.className.trim() : '';
    const cls = classes ? '.' + classes.split(/\\s+/).join('.') : '';
    return (id ? `[${id}]` : '') + el.tagName.toLowerCase() + cls;
  };
  const scrollsSideways = (el) => el.closest('.table-wrap') !== null;
  const outside = [];
  const overflowing = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2 || scrollsSideways(el)) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden') continue;
    if (r.left < -1 || r.right > width + 1) {
      outside.push(`${name(el)} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
    // A field scrolls its own text; a long user name is shortened with an ellipsis on purpose.
    const field = el instanceof HTMLSelectElement || el instanceof HTMLInputElement;
    if (field || el.classList.contains('me-name')) continue;
    const clips = style.overflowX !== 'visible';
    if (clips && el.scrollWidth > el.clientWidth + 1) {
      overflowing.push(`${name(el)} ${el.scrollWidth} > ${el.clientWidth}`);
    }
  }
  return {
    scrollWidth: document.documentElement.scrollWidth,
    outside: outside.slice(0, 10),
    overflowing: overflowing.slice(0, 10),
  };
}"""

#: Every control of the top bar and the sync bar, with its box.
CONTROLS_JS = """(els) => els.map((el) => {
  const r = el.getBoundingClientRect();
  return {
    id: el.getAttribute('data-testid') || el.getAttribute('aria-label') || el.textContent.trim(),
    left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height,
  };
})"""


async def check(page: Page, width: int, screen: str, top_bar: bool = True) -> None:
    """The screen fits `width`; with `top_bar`, its controls are on screen and 44 px+ tall."""
    layout = await page.evaluate(LAYOUT_JS, width)
    assert layout["scrollWidth"] <= width, f"{screen} at {width} px: {layout}"
    assert not layout["outside"], f"{screen} at {width} px, off screen: {layout['outside']}"
    assert not layout["overflowing"], f"{screen} at {width} px, clipped: {layout['overflowing']}"
    if top_bar:
        controls = await page.locator(
            "header.topbar a, header.topbar button, "
            "[data-testid=sync-status] a, [data-testid=sync-status] button"
        ).evaluate_all(CONTROLS_JS)
        assert len(controls) >= 5, controls
        for c in controls:
            where = f"{screen} at {width} px: {c}"
            assert c["left"] >= 0 and c["right"] <= width, where
            assert c["top"] >= 0 and c["bottom"] <= HEIGHT, where
            assert c["height"] >= 44, where
        # What is tapped is what is shown: the middle of each control is that control.
        for test_id in ("nav-recap", "nav-dashboard", "nav-people", "nav-conflicts", "nav-profile"):
            box = await page.get_by_test_id(test_id).bounding_box()
            assert box is not None
            hit = await page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y)?.closest('[data-testid]')"
                "?.getAttribute('data-testid')",
                [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
            )
            inside = (test_id, "conflict-badge", "me-name")
            assert hit in inside, f"{screen} at {width} px: {test_id} hits {hit}"
    await screenshot(page, f"phone-{width}-{screen}")
    if top_bar:  # a page: the whole of it too, not only what the screen shows first
        full = ARTIFACTS / f"phone-{width}-{screen}-full.png"
        await page.screenshot(path=str(full), full_page=True)


async def test_public_pages_fit_phones(app: AppServer, new_page: NewPage) -> None:
    page = await new_page(width=WIDTHS[0], height=HEIGHT, **PHONE)
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": HEIGHT})
        await page.goto(app.url + "/")
        await expect(page.get_by_test_id("signin-form")).to_be_visible()
        await check(page, width, "sign-in", top_bar=False)
        await page.goto(app.url + "/#/signup")
        await expect(page.get_by_test_id("signup-form")).to_be_visible()
        await check(page, width, "sign-up", top_bar=False)
        await page.goto(app.url + "/#/accept-invite/not-a-real-secret-0123456789")
        await expect(page.get_by_test_id("accept-form")).to_be_visible()
        await check(page, width, "accept-invite", top_bar=False)
        await page.goto(app.url + "/#/reset-password/not-a-real-secret-0123456789")
        await expect(page.get_by_test_id("reset-form")).to_be_visible()
        await check(page, width, "reset-password", top_bar=False)


async def test_every_page_and_panel_fits_phones(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=4)
    # An admin: the most controls in the top bar (People too).
    # bypass_csp: axe (injected as an inline script) checks the conflict notice too.
    phone = await new_page(width=WIDTHS[0], height=HEIGHT, bypass_csp=True, **PHONE)
    other = await new_page()
    await sign_in(phone, app.url, tenant.email("carla"))
    await sign_in(other, app.url, tenant.email("bob"))

    # A conflict of the admin's (her offline quantity loses to Bob's later one): the top bar
    # then carries the Conflicts badge too, and a conflict toast shows.
    order_id, *_ = await card_ids(phone)
    flow_id = str(
        await order_card(phone, order_id)
        .get_by_test_id("flow-row")
        .first.get_attribute("data-flow-id")
    )
    await phone.context.set_offline(True)
    for page, quantity in ((phone, "11"), (other, "22")):
        editor = await open_order(page, order_id)
        flow = editor.locator(f'[data-testid="flow-editor"][data-flow-id="{flow_id}"]')
        await set_number(flow.get_by_test_id("flow-qty-input"), quantity)
        await close_editor(page)
    await wait_synced(other)
    await phone.context.set_offline(False)
    await wait_synced(phone)
    await expect(phone.get_by_test_id("conflict-badge")).to_be_visible()
    # Its notice fits too; then it hides by itself (toasts are another test's subject).
    await expect(phone.get_by_test_id("conflict-toast").first).to_be_visible()
    await check(phone, WIDTHS[0], "recap-conflict-toast")
    await assert_accessible(phone, "conflict toast")
    await expect(phone.get_by_test_id("conflict-toast")).to_have_count(0, timeout=20_000)

    for width in WIDTHS:
        await phone.set_viewport_size({"width": width, "height": HEIGHT})
        await phone.get_by_test_id("nav-recap").click()
        await expect(phone.get_by_test_id("order-card").first).to_be_visible()
        await check(phone, width, "recap")

        editor = await open_order(phone, order_id)
        await check(phone, width, "editor", top_bar=False)
        await editor.get_by_test_id("editor-partner").click()
        await expect(phone.get_by_test_id("picker-option").first).to_be_visible()
        await check(phone, width, "partner-picker", top_bar=False)
        await phone.get_by_test_id("picker-close").click()
        await editor.get_by_test_id("add-flow").click()
        await expect(phone.get_by_test_id("picker-option").first).to_be_visible()
        await check(phone, width, "product-picker", top_bar=False)
        await phone.get_by_test_id("picker-close").click()
        await close_editor(phone)

        await phone.get_by_test_id("nav-dashboard").click()
        await expect(phone.get_by_test_id("order-row").first).to_be_visible()
        await expect(phone.get_by_test_id("dash-figures")).to_be_visible()
        await check(phone, width, "dashboard")

        await phone.get_by_test_id("nav-conflicts").click()
        await expect(phone.get_by_test_id("conflict-item").first).to_be_visible()
        await check(phone, width, "conflicts")

        await phone.get_by_test_id("nav-profile").click()
        await expect(phone.get_by_test_id("device-row").first).to_be_visible()
        await check(phone, width, "profile")

        await phone.get_by_test_id("nav-people").click()
        await expect(phone.get_by_test_id("user-row").first).to_be_visible()
        await expect(phone.get_by_test_id("device-row").first).to_be_visible()
        await check(phone, width, "people")

        await phone.evaluate("window.location.hash = '#/refused'")
        await expect(phone.get_by_test_id("no-refused")).to_be_visible()
        await check(phone, width, "refused")
