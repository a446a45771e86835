"""Workload 3 in the browser: a new device (headless Chromium, a fresh profile on disk, so an
empty IndexedDB) signs in to a tenant with a large history; seconds from clicking "Sign in"
until the recap page is usable (the e2e tests' `wait_ready`: sync status shown, the day's
summary loaded, nothing unsynced, last sync "Synced").

Also measured: whether the progress bar was shown, bytes over the network, records in the
browser's IndexedDB against the server's, and where the time went, from the network
timeline: each /snapshot page's request (server query + transfer; the page stores a dataset
while the next pages download), the time after the last page (the last writes into
IndexedDB), then the sync, then the render. Runs on the sync suite's big tenant when both
suites run (no second seeding)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page, Request, async_playwright

from crdt.schema import DATASETS
from recap_client.browser import CHROMIUM, CHROMIUM_ARGS, IDB_READ

from .harness import ROOT, Harness
from .table import Row

DIST = ROOT / "frontend" / "dist"
PASSWORD = "recap-bench-browser"
#: Seconds to wait for a usable page before recording a failure (15x the target in full
#: mode, so that the whole `make bench` stays near 20 minutes even when it is missed).
TIMEOUT_S = {True: 180.0, False: 300.0}
WORKLOAD = "3 bootstrap (browser)"

#: Reports every change of the progress bar (or its "N of M records" line) to Python.
PROGRESS_SCRIPT = """(() => {
  let last = '';
  const check = () => {
    const bar = document.querySelector('[data-testid="bootstrap-progress"]');
    if (!bar) return;
    const count = document.querySelector('[data-testid="bootstrap-count"]');
    const phase = document.querySelector('[data-testid="bootstrap-phase"]');
    const text = (phase ? phase.dataset.phase + ': ' : '') + (count ? count.textContent : '');
    const key = bar.value + '/' + bar.max + '/' + text;
    if (key === last) return;
    last = key;
    const shown = bar.getClientRects().length > 0;
    window.__recapProgress(Date.now(), bar.value, bar.max, text, shown);
  };
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
})();"""

#: The page is usable (tests/e2e/helpers.py `wait_ready`), or the bootstrap failed.
READY = """() => {
  const q = (id) => document.querySelector('[data-testid="' + id + '"]');
  const failed = document.querySelector('[data-testid="bootstrap"] [role="alert"]')
    || q('signin-error');
  if (failed) return 'error: ' + failed.textContent;
  const status = q('sync-status');
  const summary = q('day-summary');
  const unsynced = q('unsynced-count');
  const last = q('last-sync');
  if (status && status.getClientRects().length > 0
      && summary && summary.textContent.trim() !== 'Loading…'
      && unsynced && unsynced.textContent.trim() === '0'
      && last && last.textContent.includes('Synced')) return 'ready';
  return false;
}"""


@dataclass
class Req:
    path: str
    start: float  # epoch ms
    end: float  # epoch ms (response end)
    bytes: int  # request + response, headers and bodies
    body: int  # response body


@dataclass
class Run:
    clicked: float = 0.0  # epoch ms
    ready: float | None = None  # epoch ms
    outcome: str = ""
    requests: list[Req] = field(default_factory=list)
    progress: list[tuple[float, float, float, str, bool]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pending: list[asyncio.Task[None]] = field(default_factory=list)


def _size_label(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 10**6 else f"{n // 1000}k"


async def _server_state(h: Harness, tenant: str) -> dict[str, int]:
    assert h.conn is not None
    rows = 0
    for ds in DATASETS:
        rows += await h.conn.fetchval(
            f"SELECT count(*) FROM {ds} WHERE tenant_id = $1",  # noqa: S608
            tenant,
        )
    root = await h.conn.fetchrow(
        "SELECT hash, count FROM merkle_nodes WHERE tenant_id = $1 AND path = ''", tenant
    )
    nodes = await h.conn.fetchval(
        "SELECT count(*) FROM merkle_nodes WHERE tenant_id = $1 AND count > 0", tenant
    )
    messages = await h.conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant)
    return {
        "rows": int(rows),
        "hash": int(root["hash"]) if root else 0,
        "count": int(root["count"]) if root else 0,
        "trie": int(nodes),
        "messages": int(messages),
    }


async def _add_user(h: Harness, tenant: str) -> str:
    """A rep of the tenant who signs in on the new device."""
    from seed import new_id
    from sync_server.auth import hash_password

    assert h.conn is not None
    email = f"browser-{new_id()[-8:]}@bench.example"
    await h.conn.execute(
        """INSERT INTO users (id, tenant_id, email, display_name, password_hash, role)
           VALUES ($1, $2, $3, 'Browser Bench', $4, 'rep')""",
        new_id(),
        tenant,
        email,
        hash_password(PASSWORD),
    )
    return email


def _watch(page: Page, run: Run) -> None:
    async def finished(request: Request) -> None:
        total = body = 0
        try:
            sizes = await request.sizes()
            body = max(sizes["responseBodySize"], 0)
            total = body + max(sizes["requestBodySize"], 0)
            total += max(sizes["requestHeadersSize"], 0) + max(sizes["responseHeadersSize"], 0)
        except Exception:  # the page went away: counted as 0 bytes
            pass
        timing = request.timing
        start = float(timing["startTime"])
        end = start + max(float(timing["responseEnd"]), 0.0)
        run.requests.append(Req(urlsplit(request.url).path, start, end, total, body))

    page.on("requestfinished", lambda r: run.pending.append(asyncio.create_task(finished(r))))
    page.on("requestfailed", lambda r: run.failed.append(f"{r.url} {r.failure}"))
    page.on("pageerror", lambda e: run.errors.append(f"page error: {str(e)[:200]}"))
    page.on("crash", lambda _: run.errors.append("the page crashed"))
    page.on(
        "console",
        lambda m: run.errors.append(f"console: {m.text[:200]}") if m.type == "error" else None,
    )


async def _bootstrap(
    context: BrowserContext, url: str, email: str, timeout_s: float, run: Run
) -> dict[str, Any] | None:
    def progress(
        _source: Any, ts: float, done: float, total: float, text: str, shown: bool
    ) -> None:
        run.progress.append((ts, done, total, text, shown))

    await context.expose_binding("__recapProgress", progress)
    await context.add_init_script(PROGRESS_SCRIPT)
    page = context.pages[0] if context.pages else await context.new_page()
    page.set_default_timeout(60_000)
    _watch(page, run)
    await page.goto(url + "/")
    await page.get_by_test_id("signin-email").fill(email)
    await page.get_by_test_id("signin-password").fill(PASSWORD)
    run.clicked = time.time() * 1000
    await page.get_by_test_id("signin-submit").click()
    try:
        handle = await page.wait_for_function(READY, polling=100, timeout=timeout_s * 1000)
        run.outcome = str(await handle.json_value())
        if run.outcome == "ready":
            run.ready = time.time() * 1000
    except Exception as exc:  # a timeout or a crashed page: recorded, not raised
        run.outcome = f"not usable after {timeout_s:.0f} s ({type(exc).__name__})"
    await asyncio.gather(*run.pending, return_exceptions=True)
    if run.outcome != "ready":
        return None
    local: dict[str, Any] = await page.evaluate(IDB_READ)
    return local


def _breakdown(run: Run) -> dict[str, float]:
    """Seconds, from the network timeline. The page stores a dataset while the next pages
    download, so download and storing overlap; the phases here are wall-clock spans that add
    up to the total: sign-in, the pages (first request to the closing page's end), what is
    left after it (the last dataset's and the trie's writes), the closing sync, render.
    `downloading` (each page's request to response end, summed) overlaps the pages span."""
    assert run.ready is not None
    reqs = sorted((r for r in run.requests if r.start >= run.clicked - 5), key=lambda r: r.start)
    snaps = [r for r in reqs if r.path == "/snapshot"]
    out: dict[str, float] = {}
    if not snaps:
        return out
    logins = [r for r in reqs if r.path.startswith("/auth") and r.end <= snaps[0].start]
    out["sign-in"] = ((logins[-1].end if logins else snaps[0].start) - run.clicked) / 1000
    out["to first page"] = (snaps[0].start - (logins[-1].end if logins else run.clicked)) / 1000
    closing = snaps[-1]
    out["pages"] = (closing.end - snaps[0].start) / 1000
    after = [r for r in reqs if r.path == "/sync" and r.start >= closing.end and r.end <= run.ready]
    sync_start = after[0].start if after else run.ready
    out["after the last page"] = (sync_start - closing.end) / 1000
    sync_end = max((r.end for r in after), default=sync_start)
    out["sync"] = (sync_end - sync_start) / 1000
    out["render"] = (run.ready - sync_end) / 1000
    out["total"] = (run.ready - run.clicked) / 1000
    out["downloading"] = sum(r.end - r.start for r in snaps) / 1000
    out["trie page: download"] = (closing.end - closing.start) / 1000
    return out


async def measure(h: Harness, tenant: str, quick: bool) -> list[Row]:
    """The browser bootstrap on `tenant` (already seeded) through the harness's server."""
    assert h.server is not None
    server = await _server_state(h, tenant)
    label = _size_label(server["messages"])
    figure = f"seconds until recap page usable, {label} msgs"
    missing = (
        "frontend/dist is missing (make frontend)"
        if not (DIST / "index.html").exists()
        else f"{CHROMIUM} is missing (make chromium)"
        if not Path(CHROMIUM).exists()
        else ""
    )
    if missing:
        return [Row(WORKLOAD, figure, None, None, "s", note=f"not run: {missing}")]
    email = await _add_user(h, tenant)
    timeout_s = float(os.environ.get("BENCH_BROWSER_TIMEOUT_S", TIMEOUT_S[quick]))
    run = Run()
    profile = tempfile.mkdtemp(prefix="recap-bench-chromium-")
    cpu0 = h.server.cpu_seconds()
    local: dict[str, Any] | None = None
    try:
        async with async_playwright() as pw:
            # A persistent profile: IndexedDB on disk, as on a device (an incognito context
            # would keep it in memory).
            context = await pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 800},
            )
            try:
                local = await _bootstrap(context, h.server.url, email, timeout_s, run)
            finally:
                await context.close()
    except Exception as exc:
        run.outcome = run.outcome or f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    server_cpu = h.server.cpu_seconds() - cpu0

    reqs = [r for r in run.requests if r.start >= run.clicked - 5]
    snaps = sorted((r for r in reqs if r.path == "/snapshot"), key=lambda r: r.start)
    sync_bytes = sum(r.bytes for r in reqs if r.path == "/sync")
    snap_bytes = sum(r.bytes for r in snaps)
    all_bytes = sum(r.bytes for r in reqs)
    shown = any(p[4] for p in run.progress)
    print(
        f"  browser: {run.outcome}; {len(snaps)} snapshot requests, "
        f"{snap_bytes:,} B snapshot + {sync_bytes:,} B sync; progress bar "
        f"{'shown' if shown else 'never shown'} ({len(run.progress)} updates); "
        f"server CPU {server_cpu:.1f} s",
        flush=True,
    )
    for r in snaps:
        print(
            f"    /snapshot +{(r.start - run.clicked) / 1000:7.2f} s .. "
            f"+{(r.end - run.clicked) / 1000:7.2f} s  {r.body:>12,} B",
            flush=True,
        )
    for ts, done, total, text, _ in run.progress:
        print(f"    progress +{(ts - run.clicked) / 1000:7.2f} s  {text or f'{done}/{total}'}")
    if run.failed or run.errors:
        print("    failed: " + "; ".join([*run.failed[:5], *run.errors[:5]]), flush=True)

    if run.ready is None:
        last = run.progress[-1][3] if run.progress else "no progress shown"
        note = f"{run.outcome}; last progress: {last}; {len(snaps)} snapshot pages fetched"
        if snaps:
            closing = snaps[-1]
            syncs = [r for r in reqs if r.path == "/sync" and r.start >= closing.end]
            note += (
                f", the last ({closing.body / 1e6:.1f} MB) in at "
                f"+{(closing.end - run.clicked) / 1000:.0f} s, "
                f"{'then a sync' if syncs else 'no sync after it (still applying)'}"
            )
        if run.errors:
            note += "; " + run.errors[0]
        return [
            Row(WORKLOAD, figure, None, None, "s", note=note),
            Row(
                WORKLOAD,
                f"bytes transferred, {label} msgs",
                all_bytes or None,
                None,
                "bytes",
                note="until the timeout",
            ),
        ]
    parts = _breakdown(run)
    print("    breakdown: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()), flush=True)
    assert local is not None
    same = (local["hash"], local["count"]) == (server["hash"], server["count"])
    bar_full = next((p[0] for p in run.progress if p[2] > 1 and p[1] >= p[2]), None)
    at_full = (
        f"; bar at 100% for the last {(run.ready - bar_full) / 1000:.1f} s" if bar_full else ""
    )
    other_s = sum(parts.get(k, 0.0) for k in ("sign-in", "to first page", "sync", "render"))
    return [
        Row(
            WORKLOAD,
            figure,
            (run.ready - run.clicked) / 1000,
            None,
            "s",
            note=(
                f"progress bar {'shown' if shown else 'NOT shown'}{at_full}; IndexedDB "
                f"{local['registers']:,} rows of the server's {server['rows']:,}, "
                f"{local['trie']:,} trie nodes of {server['trie']:,}, root "
                f"{'equal' if same else 'DIFFERENT'}; target <= 20 s"
            ),
        ),
        Row(
            WORKLOAD,
            "  of which: the pages, first request to last byte (stores overlap)",
            parts.get("pages", 0.0),
            None,
            "s",
            note=f"{len(snaps)} requests, downloading {parts.get('downloading', 0):.2f} s "
            f"of it (trie page {parts.get('trie page: download', 0):.2f} s); server CPU "
            f"{server_cpu:.1f} s in all",
        ),
        Row(
            WORKLOAD,
            "  of which: after the last page (last rows and the trie stored)",
            parts.get("after the last page", 0.0),
            None,
            "s",
        ),
        Row(
            WORKLOAD,
            "  of which: sign-in, closing sync, render",
            other_s,
            None,
            "s",
            note=f"sign-in {parts.get('sign-in', 0):.2f} s, sync {parts.get('sync', 0):.2f} s,"
            f" render {parts.get('render', 0):.2f} s",
        ),
        Row(
            WORKLOAD,
            f"bytes transferred, {label} msgs",
            all_bytes,
            None,
            "bytes",
            note=f"snapshot {snap_bytes:,} B (trie page {snaps[-1].body:,} B), sync "
            f"{sync_bytes:,} B, sign-in and the rest {all_bytes - snap_bytes - sync_bytes:,} B",
        ),
    ]


def run(quick: bool) -> list[Row]:
    """Standalone (`--only browser`): seed the big tenant as the sync suite does, then measure."""
    return asyncio.run(_run(quick))


async def _run(quick: bool) -> list[Row]:
    from .sync_workloads import big_tenant

    size = 50_000 if quick else 1_000_000
    async with Harness() as h:
        print(f"seeding a tenant with {size:,} messages", flush=True)
        tenant, _, _ = await big_tenant(h, size)
        print("workload 3: bootstrap in the browser", flush=True)
        return await measure(h, tenant, quick)
