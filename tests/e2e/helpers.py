"""Page-level steps shared by the end-to-end tests (everything through data-testid)."""

from __future__ import annotations

import asyncio
import datetime
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from playwright.async_api import Locator, Page, expect

from .conftest import ARTIFACTS, PASSWORD

T = TypeVar("T")


def next_working_day(today: datetime.date | None = None) -> datetime.date:
    day = (today or datetime.date.today()) + datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day


async def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """First start on a device: sign in, bootstrap, land on the recap page."""
    await page.goto(base_url + "/")
    await page.get_by_test_id("signin-email").fill(email)
    await page.get_by_test_id("signin-password").fill(password)
    await page.get_by_test_id("signin-submit").click()
    await wait_ready(page)


async def wait_ready(page: Page) -> None:
    """Bootstrapped, on the recap page with its data, and synced."""
    await expect(page.get_by_test_id("sync-status")).to_be_visible(timeout=30_000)
    await expect(page.get_by_test_id("day-summary")).not_to_have_text("Loading…")
    await wait_synced(page)


#: Runs a function on the app's IndexedDB ("recap") behind the app's back, as
#: `(db, arg, ask) => ...` where `ask(request)` is a request's result as a promise; the
#: database is closed after (an open connection would block the app's next upgrade). The
#: function is put into the source, not passed and evaluated: the app's CSP forbids eval.
ON_DEVICE_DB = """async (arg) => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open('recap');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const ask = (req) => new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  try {
    return await (FUNCTION)(db, arg, ask);
  } finally {
    db.close();
  }
}"""


async def on_device_db(page: Page, function: str, arg: object = None) -> Any:
    """`function` (JavaScript source of `(db, arg, ask) => ...`) run on the device's
    IndexedDB; its result."""
    return await page.evaluate(ON_DEVICE_DB.replace("FUNCTION", function), arg)


#: The number of edits the server has not acknowledged.
OUTBOX_SIZE = "(db, _, ask) => ask(db.transaction('outbox').objectStore('outbox').count())"


async def wait_synced(page: Page, timeout: float = 20_000) -> None:
    """No unsynced edits and a successful sync on record.

    The bar's count is a live query that re-renders a moment after the edit that changed it (an
    edit already on screen could still read "0 waiting"), so the outbox itself, in IndexedDB, is
    read until it is empty too."""
    await expect(page.get_by_test_id("unsynced-count")).to_have_text("0", timeout=timeout)
    deadline = time.monotonic() + timeout / 1000
    while await on_device_db(page, OUTBOX_SIZE) != 0:
        if time.monotonic() > deadline:
            raise AssertionError("the outbox never emptied")
        await asyncio.sleep(0.1)
    await expect(page.get_by_test_id("last-sync")).to_contain_text("Synced", timeout=timeout)


async def wait_sw(page: Page) -> None:
    """The service worker is installed and controls the page (the app shell is cached)."""
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    for _ in range(100):
        if await page.evaluate("navigator.serviceWorker.controller !== null"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the service worker never took control of the page")


async def pick(page: Page, query: str) -> str:
    """In an open picker, search and take the first match; returns its label."""
    picker = page.get_by_test_id("picker")
    await expect(picker).to_be_visible()
    await picker.get_by_test_id("picker-search").fill(query)
    option = picker.get_by_test_id("picker-option").first
    await expect(option).to_be_visible()
    label = await option.locator(".name").inner_text()
    await option.click()
    await expect(picker).to_be_hidden()
    return label


async def set_number(field: Locator, value: str) -> None:
    await field.fill(value)
    await field.press("Enter")


def order_card(page: Page, order_id: str) -> Locator:
    return page.locator(f'[data-testid="order-card"][data-order-id="{order_id}"]')


async def card_ids(page: Page) -> list[str]:
    ids = await page.get_by_test_id("order-card").evaluate_all(
        "els => els.map(e => e.dataset.orderId)"
    )
    return [str(i) for i in ids]


async def open_order(page: Page, order_id: str) -> Locator:
    await order_card(page, order_id).click()
    editor = page.get_by_test_id("order-editor")
    await expect(editor).to_be_visible()
    return editor


async def close_editor(page: Page) -> None:
    await page.get_by_test_id("sheet-close").click()
    await expect(page.get_by_test_id("order-editor")).to_be_hidden()


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 15.0) -> T:
    """Retry `check` (which raises AssertionError until it holds) for up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def new_card(page: Page, before: set[str]) -> str:
    """The one order card not in `before`, once the list shows it (a live query answers a
    moment after the edit)."""

    async def one() -> str:
        fresh = set(await card_ids(page)) - before
        assert len(fresh) == 1, fresh
        return fresh.pop()

    return await eventually(one)


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


async def fill_password_pair(page: Page, password: str) -> None:
    """The new password, twice (sign-up, invite and reset forms)."""
    await page.get_by_test_id("new-password").fill(password)
    await page.get_by_test_id("new-password-again").fill(password)


async def open_people(page: Page) -> None:
    await page.get_by_test_id("nav-people").click()
    await expect(page.get_by_test_id("people-page")).to_be_visible()


def user_row(page: Page, email: str) -> Locator:
    return page.locator(f'[data-testid="user-row"][data-email="{email}"]')


async def invite(page: Page, email: str, role: str = "rep") -> str:
    """On the People page: invite `email` with `role`; the link the page shows."""
    await page.get_by_test_id("invite-email").fill(email)
    await page.get_by_test_id("invite-role").select_option(role)
    await page.get_by_test_id("invite-submit").click()
    link = page.get_by_test_id("invite-link")
    await expect(link).to_have_value(re.compile(r"/#/accept-invite/[\w-]{16,}$"))
    return await link.input_value()


async def accept_invite(page: Page, link: str, name: str, password: str) -> None:
    """Open an invite link on a fresh device, accept it, land bootstrapped on the recap page."""
    await page.goto(link)
    await page.get_by_test_id("accept-name").fill(name)
    await fill_password_pair(page, password)
    await page.get_by_test_id("form-submit").click()
    await wait_ready(page)
