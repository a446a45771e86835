"""Diagnostics (issue 21): a device in sync says so; a message taken out of a device's
IndexedDB behind the app's back is named, as exactly that message, by the app's own
comparison and by the CLI (`python -m sync_server diff`) reading the device's export."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import json
import re
import sys
from pathlib import Path
from typing import Any

from playwright.async_api import Page, Route, expect

from crdt.merkle import timestamp_key
from crdt.timestamp import Timestamp, hash_timestamp

from .conftest import ARTIFACTS, REPO, AppServer, NewPage, SeedTenant
from .helpers import (
    card_ids,
    close_editor,
    on_device_db,
    open_order,
    screenshot,
    set_number,
    sign_in,
    wait_synced,
)
from .test_a11y import assert_accessible
from .test_conflicts import login_token
from .test_phone import HEIGHT, WIDTHS, check

#: Every message of the device's log (IndexedDB `messages`).
READ_LOG = "(db, _, ask) => ask(db.transaction('messages').objectStore('messages').getAll())"

#: Take one message out of the log and out of the trie, as the app would never do: its
#: record deleted, and its hash XORed out of (and 1 taken from the count of) every node on its
#: minute's path, in the trie's blocks (engine/trieblocks.ts: {b, p, h, c}, BLOCK_DEPTH 10).
REMOVE_MESSAGE = """async (db, [timestamp, key, hash], ask) => {
    const tx = db.transaction(['messages', 'trieBlocks'], 'readwrite');
    const done = new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    const messages = tx.objectStore('messages');
    if ((await ask(messages.get(timestamp))) === undefined) throw new Error('not in the log');
    await ask(messages.delete(timestamp));
    const blocks = tx.objectStore('trieBlocks');
    const paths = [];
    for (let i = 0; i <= key.length; i++) paths.push(key.slice(0, i));
    const byBlock = new Map();
    for (const path of paths) {
      const b = path.length < 10 ? '' : path.slice(0, 10);
      if (!byBlock.has(b)) byBlock.set(b, []);
      byBlock.get(b).push(path);
    }
    let touched = 0;
    for (const [b, inBlock] of byBlock) {
      const rec = await ask(blocks.get(b));
      if (rec === undefined) throw new Error(`no trie block "${b}"`);
      const nodes = new Map(rec.p.map((suffix, i) => [b + suffix, [rec.h[i], rec.c[i]]]));
      for (const path of inBlock) {
        const node = nodes.get(path);
        if (node === undefined) throw new Error(`no trie node "${path}"`);
        node[0] = (node[0] ^ hash) | 0;
        node[1] -= 1;
        touched += 1;
        if (node[1] === 0) nodes.delete(path);
      }
      const live = [...nodes];
      if (!live.length) {
        await ask(blocks.delete(b));
      } else {
        await ask(blocks.put({
          b,
          p: live.map(([path]) => path.slice(b.length)),
          h: Int32Array.from(live, ([, n]) => n[0]),
          c: Int32Array.from(live, ([, n]) => n[1]),
        }));
      }
    }
    await done;
    return touched;
}"""

#: A value of the device's `meta` table (its node id, its session).
META = "async (db, key, ask) => (await ask(db.transaction('meta').objectStore('meta').get(key)))"


def signed32(n: int) -> int:
    return n - (1 << 32) if n >= 1 << 31 else n


async def open_diagnostics(page: Page) -> None:
    await page.get_by_test_id("nav-diagnostics").click()
    await expect(page.get_by_test_id("diagnostics-page")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"#/diagnostics$"))


async def run_cli(*args: str) -> tuple[int, str]:
    """`python -m sync_server diff ...` in a subprocess (asynchronously: the server under
    test runs in this event loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sync_server",
        "diff",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_a_device_in_sync_says_so(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage, tmp_path: Path
) -> None:
    tenant = await seed_tenant(days_back=0, days_ahead=2)
    page = await new_page()
    await sign_in(page, app.url, tenant.email("alice"))
    await wait_synced(page)
    await open_diagnostics(page)

    diag = page.get_by_test_id("diagnostics-page")
    node = (await on_device_db(page, META, "node"))["value"]
    await expect(diag.get_by_test_id("diag-node")).to_have_text(node)
    await expect(diag.get_by_test_id("diag-user")).to_have_text("Alice Martin (rep)")
    await expect(diag.get_by_test_id("diag-unsynced")).to_contain_text("0 edits")
    await expect(diag.get_by_test_id("diag-last-sync")).not_to_have_text("never")
    await expect(diag.get_by_test_id("diag-watermark")).to_have_text(re.compile(r"^[1-9]\d*$"))
    await expect(diag.get_by_test_id("diag-storage")).to_have_text(re.compile(r"\d"))
    await expect(diag.get_by_test_id("server-count")).to_have_text(re.compile(r"^\d+$"))

    await diag.get_by_test_id("diag-compare").click()
    result = diag.get_by_test_id("compare-result")
    await expect(result).to_have_attribute("data-in-sync", "true")
    await expect(result).to_contain_text("In sync")
    local_root = await diag.get_by_test_id("local-root").inner_text()
    assert local_root == await diag.get_by_test_id("server-root").inner_text()
    assert local_root != "0"
    local_count = await diag.get_by_test_id("local-count").inner_text()
    assert local_count == await diag.get_by_test_id("server-count").inner_text()
    assert int(local_count) > 100
    await result.scroll_into_view_if_needed()
    await screenshot(page, "diagnostics-in-sync")

    # Its export and the server agree for the CLI too.
    async with page.expect_download() as info:
        await diag.get_by_test_id("diag-export").click()
    path = tmp_path / (await info.value).suggested_filename
    await (await info.value).save_as(path)
    token = await login_token(app, tenant.email("alice"))
    code, out = await run_cli(app.url, str(path), "--token-a", token, "--json")
    assert code == 0, out
    assert json.loads(out)["in_sync"] is True


async def test_a_message_removed_behind_the_apps_back_is_named(
    app: AppServer, seed_tenant: SeedTenant, new_page: NewPage, tmp_path: Path
) -> None:
    # A small tenant: the server lists at most 1000 messages of the divergent ranges, and the
    # seed's messages may share the minute of the edit below.
    tenant = await seed_tenant(days_back=0, days_ahead=3, partners=4, products=8)
    # No service worker: page.route sees the page's /sync calls (blocked below). bypass_csp:
    # axe is injected as an inline script.
    page = await new_page(service_workers="block", bypass_csp=True)
    await sign_in(page, app.url, tenant.email("alice"))

    # Two quantities on one line: the first is in the log and on the server, but no register
    # holds it (the second replaced it).
    order = (await card_ids(page))[0]
    editor = await open_order(page, order)
    flow = editor.get_by_test_id("flow-editor").first
    await set_number(flow.get_by_test_id("flow-qty-input"), "41")
    await wait_synced(page)
    await set_number(flow.get_by_test_id("flow-qty-input"), "42")
    await close_editor(page)
    await wait_synced(page)
    await asyncio.sleep(1)  # the live socket's own sync, prompted by the edit, ends
    await wait_synced(page)

    node = (await on_device_db(page, META, "node"))["value"]
    log: list[dict[str, Any]] = await on_device_db(page, READ_LOG)
    mine = [
        m
        for m in log
        if m["timestamp"].endswith(node) and m["column"] == "quantity" and m["value"] == 41
    ]
    assert len(mine) == 1, mine
    gone = mine[0]
    ts = gone["timestamp"]
    millis = Timestamp.parse(ts).millis

    # From here on the device cannot sync (it would heal the gap); the server keeps the message.
    async def refuse(route: Route) -> None:
        await route.abort("connectionrefused")

    await page.route("**/sync", refuse)
    key = timestamp_key(millis)
    touched = await on_device_db(page, REMOVE_MESSAGE, [ts, key, signed32(hash_timestamp(ts))])
    assert touched == len(key) + 1
    await page.reload()
    await expect(page.get_by_test_id("sync-status")).to_be_visible()

    # The app's comparison: one range, covering that minute, naming that message alone.
    await open_diagnostics(page)
    diag = page.get_by_test_id("diagnostics-page")
    await diag.get_by_test_id("diag-compare").click()
    result = diag.get_by_test_id("compare-result")
    await expect(result).to_have_attribute("data-in-sync", "false")
    ranges = result.get_by_test_id("diff-range")
    await expect(ranges).to_have_count(1)
    start = await ranges.first.get_attribute("data-start")
    end = await ranges.first.get_attribute("data-end")
    assert start is not None and end is not None
    assert _ms(start) <= millis < _ms(end)
    server_only = ranges.first.get_by_test_id("server-only").get_by_test_id("diff-message")
    await expect(server_only).to_have_count(1)
    await expect(server_only).to_have_attribute("data-timestamp", ts)
    await expect(server_only).to_contain_text("quantity 41")
    await expect(server_only).to_contain_text("Alice Martin (this device)")
    await expect(ranges.first.get_by_test_id("device-only")).to_have_attribute("data-count", "0")
    await expect(ranges.first.get_by_test_id("range-uncertain")).to_have_count(0)
    marks = result.get_by_test_id("timeline-mark")
    await expect(marks).to_have_count(1)
    mark_from = await marks.first.get_attribute("data-from")
    mark_to = await marks.first.get_attribute("data-to")
    assert mark_from is not None and mark_to is not None
    assert _ms(mark_from) <= millis < _ms(mark_to)
    local = int(await diag.get_by_test_id("local-count").inner_text())
    await expect(diag.get_by_test_id("server-count")).to_have_text(str(local + 1))
    await result.scroll_into_view_if_needed()
    await screenshot(page, "diagnostics-divergent")
    await assert_accessible(page, "diagnostics")
    # On a phone the page, its timeline and its lists fit the screen.
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": HEIGHT})
        await check(page, width, "diagnostics", top_bar=False)
        full = ARTIFACTS / f"phone-{width}-diagnostics-full.png"
        await page.screenshot(path=str(full), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})

    # The export: one gzip file, as the CLI reads it.
    async with page.expect_download() as info:
        await diag.get_by_test_id("diag-export").click()
    download = await info.value
    name = download.suggested_filename
    assert re.fullmatch(rf"recap-device-{node}-\d{{8}}-\d{{4}}\.json\.gz", name), name
    path = tmp_path / name
    await download.save_as(path)
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    doc = json.loads(gzip.decompress(raw))
    assert doc["format"] == "recap-device" and doc["version"] == 1
    assert doc["node"] == node and doc["user"]["name"] == "Alice Martin"
    held = {m["timestamp"] for m in doc["messages"]} | {m["timestamp"] for m in doc["registers"]}
    assert ts not in held
    token = await login_token(app, tenant.email("alice"))
    session = (await on_device_db(page, META, "session"))["value"]
    assert session["token"] not in json.dumps(doc)

    # The CLI, the server against the file: exactly that message, only on the server.
    code, out = await run_cli(app.url, str(path), "--token-a", token, "--json")
    assert code == 1, out
    report = json.loads(out)
    assert report["in_sync"] is False
    only_a = [m["timestamp"] if isinstance(m, dict) else m for m in report["only_a"]]
    only_b = [m["timestamp"] if isinstance(m, dict) else m for m in report["only_b"]]
    assert only_a == [ts], report
    assert only_b == [], report
    assert len(report["ranges"]) == 1, report
    code, out = await run_cli(app.url, str(path), "--token-a", token)
    assert code == 1, out
    assert ts in out and "quantity" in out and "41" in out, out


def _ms(iso: str) -> int:
    """Epoch millis of an ISO UTC time as the page writes it (`toISOString`)."""
    return int(datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
