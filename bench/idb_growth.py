"""Issue 20: how much a device stores in IndexedDB, after a bootstrap on a large tenant and
after a simulated month of use, for two builds of the app (before and after c91d39d, which
stopped the `messages` store from logging every message a sync receives).

`python -m bench.idb_growth [--quick] [--before DIST] [--after DIST] [--days N]`

One tenant is seeded once (1M messages as the browser bootstrap bench seeds; --quick: 100k),
and each build gets its own server process on the same database, serving that build's
`dist`, and its own Chromium with a fresh profile on disk. Both devices sign in (a new
device: the bootstrap) one after the other before anything else changes, so they start from
the same history, and live through the same month side by side:

* each simulated day, 3 other reps (Python `SyncClient`s, bootstrapped like a device) make
  2,000 field edits on existing pre-orders and flows (500 fields, 4 edits each, by random
  reps, in 4 passes, each rep syncing after each pass: the devices sync on the live notices
  meanwhile), then each browser device makes 10 status toggles through the recap page and
  syncs, and the day ends when both devices' trie roots equal the server's;
* wall time is not simulated (the month takes minutes, every message is stamped "now"):
  volume is what matters. The after build keeps its own edits 30 days after the server
  acknowledged them, so within one month none ages out anyway.

Measured after the bootstrap and after the month: each store's record count and payload
(estimated), the on-disk size of the profile's IndexedDB directory (apparent bytes, after
the browser is closed; `navigator.storage.estimate()`'s usage, taken while open, too), and,
since LevelDB compacts lazily, the size of the same stores copied into a fresh profile
(`copied_bytes`). The directory is also read after each day. Prints a table and writes JSON
under bench/results/.

Each build is made from its git revision (`BEFORE_REV`, `AFTER_REV`) in a temporary
worktree (node_modules linked from frontend/), removed at the end, unless --before or
--after names a built dist directory."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import BrowserContext, Page, Playwright, async_playwright

from recap_client import ClientReplica, SyncClient
from recap_client.browser import CHROMIUM, CHROMIUM_ARGS, IDB_READ

from .browser_bootstrap import READY, Run, _add_user, _bootstrap, _server_state, _size_label
from .harness import ROOT, Harness, Process, commit, free_port, machine
from .sync_workloads import big_tenant
from .table import Row, render

WORKLOAD = "IndexedDB growth (issue 20)"
#: The builds compared: the commit that stopped the log growing with the tenant's history,
#: and the one before it.
BEFORE_REV = "c91d39d~1"
AFTER_REV = "c91d39d"
DAYS = 30
REPS = 3
FIELDS_PER_DAY = 500
EDITS_PER_FIELD = 4  # 2,000 edits a day
PASSES = 4
OWN_EDITS = 10
CONVERGE_S = 300.0
#: Records per batch when copying a device's stores (`copied_bytes`).
COPY_BATCH = 500
#: Seconds for LevelDB to settle before the copy's browser closes.
SETTLE_S = 5

#: One server process serving a given build: `python -c SERVE <dist> <port>` (the settings
#: take `static_dir` from no variable, so it is passed as an override).
SERVE = """import sys
from sync_server.logging_json import configure
from sync_server.settings import Settings
from sync_server.workers import serve
configure()
settings = Settings.from_env(static_dir=sys.argv[1], host='127.0.0.1', port=int(sys.argv[2]))
serve(settings)
"""

#: Per store: records, and their payload in bytes, estimated (keys and values as a
#: structured clone would roughly hold them: a string's length, 8 per number, a typed array's
#: bytes; index entries not counted); and the browser's own storage estimate.
COUNTS = """async () => {
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open('recap');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const size = (v) => {
    if (v === null || v === undefined) return 1;
    switch (typeof v) {
      case 'string': return v.length + 1;
      case 'number': case 'bigint': return 8;
      case 'boolean': return 1;
    }
    if (ArrayBuffer.isView(v)) return v.byteLength + 2;
    let n = 2;
    if (Array.isArray(v)) { for (const x of v) n += size(x); return n; }
    for (const k in v) n += k.length + 1 + size(v[k]);
    return n;
  };
  const counts = {}, bytes = {};
  for (const name of Array.from(db.objectStoreNames)) {
    [counts[name], bytes[name]] = await new Promise((resolve, reject) => {
      let c = 0, b = 0;
      const r = db.transaction(name).objectStore(name).openCursor();
      r.onsuccess = () => {
        const cur = r.result;
        if (!cur) return resolve([c, b]);
        c += 1;
        b += size(cur.primaryKey) + size(cur.value);
        cur.continue();
      };
      r.onerror = () => reject(r.error);
    });
  }
  db.close();
  const estimate = await navigator.storage.estimate();
  const details = estimate.usageDetails || {};
  return { counts, bytes, usage: estimate.usage, idbUsage: details.indexedDB ?? null };
}"""

#: The device's trie root (hash, count) and its messages count, cheaply (the top block
#: only; IDB_READ reads every block and row group).
ROOT_READ = """async () => {
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open('recap');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const req = (store, op, arg) => new Promise((resolve, reject) => {
    const r = db.transaction(store).objectStore(store)[op](arg);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const top = await req('trieBlocks', 'get', '');
  const messages = await req('messages', 'count');
  db.close();
  const at = top ? top.p.indexOf('') : -1;
  const unsynced = document.querySelector('[data-testid="unsynced-count"]');
  return {
    hash: at >= 0 ? top.h[at] : 0,
    count: at >= 0 ? top.c[at] : 0,
    messages,
    unsynced: unsynced ? unsynced.textContent.trim() : null,
  };
}"""


#: The copy (see `copied_bytes`): the app database's stores and indexes.
SCHEMA = """async () => {
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open('recap');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const names = Array.from(db.objectStoreNames);
  const tx = db.transaction(names);
  const stores = names.map((name) => {
    const s = tx.objectStore(name);
    return {
      name, keyPath: s.keyPath, autoIncrement: s.autoIncrement,
      indexes: Array.from(s.indexNames).map((i) => {
        const x = s.index(i);
        return { name: i, keyPath: x.keyPath, unique: x.unique, multiEntry: x.multiEntry };
      }),
    };
  });
  db.close();
  return stores;
}"""

#: The copy: up to `n` records of `store` after key `after`, typed arrays as plain arrays.
READ_BATCH = """async ({ store, after, n }) => {
  const db = window.__recapCopySource || (window.__recapCopySource = await new Promise(
    (resolve, reject) => {
      const r = indexedDB.open('recap');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    }));
  const range = after === null ? null : IDBKeyRange.lowerBound(after, true);
  const s = db.transaction(store).objectStore(store);
  const get = (op) => new Promise((resolve, reject) => {
    const r = s[op](range, n);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const [keys, values] = await Promise.all([get('getAllKeys'), get('getAll')]);
  // One JSON string: far faster through the driver than nested objects.
  const text = JSON.stringify(values, (_, v) =>
    ArrayBuffer.isView(v) ? { __ta: v.constructor.name, v: Array.from(v) } : v);
  return { text, last: keys.length ? keys[keys.length - 1] : null, count: keys.length };
}"""

#: The copy: create the stores (in a fresh profile), then write batches.
CREATE_COPY = """async (stores) => {
  window.__recapCopy = await new Promise((resolve, reject) => {
    const r = indexedDB.open('copy', 1);
    r.onupgradeneeded = () => {
      for (const s of stores) {
        const o = r.result.createObjectStore(s.name, {
          keyPath: s.keyPath, autoIncrement: s.autoIncrement });
        for (const i of s.indexes)
          o.createIndex(i.name, i.keyPath, { unique: i.unique, multiEntry: i.multiEntry });
      }
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}"""
WRITE_BATCH = """async ({ store, text }) => {
  const values = JSON.parse(text, (_, v) =>
    v !== null && typeof v === 'object' && typeof v.__ta === 'string'
      ? new globalThis[v.__ta](v.v) : v);
  await new Promise((resolve, reject) => {
    const tx = window.__recapCopy.transaction(store, 'readwrite');
    const o = tx.objectStore(store);
    for (const v of values) o.put(v);
    tx.oncomplete = () => resolve(null);
    tx.onerror = () => reject(tx.error);
  });
}"""

REOPEN_COPY = """async () => {
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open('copy');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  db.close();
}"""


@dataclass
class Device:
    name: str
    dist: Path
    server: Process
    profile: str
    email: str = ""
    context: BrowserContext | None = None
    page: Page | None = None
    bootstrap_s: float | None = None
    toggles: int = 0
    errors: list[str] = field(default_factory=list)
    points: dict[str, dict[str, Any]] = field(default_factory=dict)
    days: list[dict[str, Any]] = field(default_factory=list)

    @property
    def idb_dir(self) -> Path:
        return Path(self.profile) / "Default" / "IndexedDB"


def dir_bytes(path: Path) -> tuple[int, int]:
    """(apparent bytes, allocated bytes) of the files under `path`, like `du -sb` / `du -sB1`."""
    apparent = allocated = 0
    for base, _, files in os.walk(path):
        for name in files:
            try:
                st = os.stat(os.path.join(base, name))
            except OSError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return apparent, allocated


def build_app(rev: str, where: Path) -> Path:
    """The app as of git revision `rev`, built in a worktree at `where` (node_modules linked
    from frontend/); its dist directory."""
    subprocess.run(["git", "worktree", "add", "--detach", str(where), rev], cwd=ROOT, check=True)
    (where / "frontend" / "node_modules").symlink_to(ROOT / "frontend" / "node_modules")
    subprocess.run(
        ["npm", "run", "build"], cwd=where / "frontend", check=True, stdout=subprocess.DEVNULL
    )
    return where / "frontend" / "dist"


async def start_server(h: Harness, dist: Path) -> Process:
    """A server process on the harness's database (the harness's own server's settings),
    serving the app from `dist`."""
    env = {
        "DATABASE_URL": h.db_url,
        "RECAP_TOKEN_SECRET": h.secret,
        "RECAP_RATE_PER_S": "1000000000",
        "RECAP_RATE_BURST": "1000000000",
        "RECAP_LOG_REQUESTS": "false",
        "RECAP_POOL_MAX": "20",
        "RECAP_DATA_DIR": tempfile.mkdtemp(prefix="recap-bench-data-"),
    }
    port = free_port()
    server = Process(["-c", SERVE, str(dist), str(port)], env, port)
    await server.wait_ready("/healthz")
    return server


async def launch(pw: Playwright, profile: str) -> BrowserContext:
    # A persistent profile: IndexedDB on disk, as on a device.
    return await pw.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 800},
    )


def watch(page: Page, dev: Device) -> None:
    page.on("pageerror", lambda e: dev.errors.append(f"page error: {str(e)[:200]}"))
    page.on("crash", lambda _: dev.errors.append("the page crashed"))


async def open_day(dev: Device, date: str) -> None:
    """The recap page of `date`, usable."""
    assert dev.page is not None
    await dev.page.evaluate(f"location.hash = '#/recap/{date}'")
    await dev.page.wait_for_function(
        f"""() => {{
          const t = document.querySelector('[data-testid="date-input"]');
          const s = document.querySelector('[data-testid="day-summary"]');
          return t && t.value === '{date}' && s && s.textContent.trim() !== 'Loading…';
        }}""",
        polling=200,
        timeout=120_000,
    )


async def reopen(pw: Playwright, dev: Device, date: str) -> None:
    """Start the browser again on the same profile (the session is in IndexedDB)."""
    dev.context = await launch(pw, dev.profile)
    dev.page = dev.context.pages[0] if dev.context.pages else await dev.context.new_page()
    dev.page.set_default_timeout(60_000)
    watch(dev.page, dev)
    await dev.page.goto(dev.server.url + f"/#/recap/{date}")
    await dev.page.wait_for_function(READY, polling=200, timeout=180_000)
    await open_day(dev, date)


async def copied_bytes(pw: Playwright, dev: Device) -> int:
    """The size on disk of the device's records and indexes without LevelDB's garbage:
    every store copied, as is, into a database of a fresh profile (each record written
    once, so nothing is left to compact), measured once that browser is closed and the
    copy opened once more (its last writes may still be in LevelDB's uncompressed log).
    The device's page must be open."""
    assert dev.page is not None
    stores: list[dict[str, Any]] = await dev.page.evaluate(SCHEMA)
    profile = tempfile.mkdtemp(prefix="recap-idb-copy-")
    try:
        context = await launch(pw, profile)
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(dev.server.url + "/healthz")
            await page.evaluate(CREATE_COPY, stores)
            for store in stores:
                after: Any = None
                while True:
                    batch = await dev.page.evaluate(
                        READ_BATCH, {"store": store["name"], "after": after, "n": COPY_BATCH}
                    )
                    if not batch["count"]:
                        break
                    await page.evaluate(
                        WRITE_BATCH, {"store": store["name"], "text": batch["text"]}
                    )
                    after = batch["last"]
            await asyncio.sleep(SETTLE_S)  # LevelDB's background compactions finish
        finally:
            await context.close()
        # Closing the browser may leave a compaction's inputs on disk; LevelDB deletes
        # obsolete files when the database is opened again.
        context = await launch(pw, profile)
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(dev.server.url + "/healthz")
            await page.evaluate(REOPEN_COPY)
            await asyncio.sleep(SETTLE_S)
        finally:
            await context.close()
        return dir_bytes(Path(profile) / "Default" / "IndexedDB")[0]
    finally:
        shutil.rmtree(profile, ignore_errors=True)


async def measure(pw: Playwright, dev: Device, label: str) -> dict[str, Any]:
    """Counts and payloads while open; the directory's size while open, the size of a
    fresh copy of the stores (`copied_bytes`), then the directory's size once the browser
    is closed (dev.context is None afterwards). (Left 60 s without a page before closing, a
    100k-message profile's directory did not change: Chromium did not compact it then.)"""
    assert dev.page is not None and dev.context is not None
    local: dict[str, Any] = await dev.page.evaluate(IDB_READ)
    counts: dict[str, Any] = await dev.page.evaluate(COUNTS)
    open_bytes, _ = dir_bytes(dev.idb_dir)
    copied = await copied_bytes(pw, dev)
    await dev.context.close()
    dev.context = dev.page = None
    closed_bytes, allocated = dir_bytes(dev.idb_dir)
    point = {
        "idb_bytes": closed_bytes,
        "idb_allocated_bytes": allocated,
        "idb_bytes_while_open": open_bytes,
        "copied_bytes": copied,
        "payload_bytes": sum(counts["bytes"].values()),
        "store_payload_bytes": counts["bytes"],
        "estimate_usage": counts["usage"],
        "estimate_indexeddb": counts["idbUsage"],
        "stores": counts["counts"],
        "rows": local["registers"],
        "trie_nodes": local["trie"],
        "root": [local["hash"], local["count"]],
    }
    dev.points[label] = point
    print(
        f"  {dev.name} {label}: IndexedDB {closed_bytes:,} B on disk (closed; {open_bytes:,} B"
        f" while open); copied {copied:,} B; estimate {counts['usage']:,} B; "
        f"payload {point['payload_bytes']:,} B; stores "
        + ", ".join(f"{k} {v:,} ({counts['bytes'][k]:,} B)" for k, v in counts["counts"].items()),
        flush=True,
    )
    return point


async def busiest_date(h: Harness, tenant: str) -> tuple[str, int]:
    """The delivery date with the most live pre-orders (the devices' recap page)."""
    assert h.conn is not None
    row = await h.conn.fetchrow(
        """SELECT delivery_date, count(*) AS n FROM pre_orders
           WHERE tenant_id = $1 AND tombstone = 0 AND delivery_date IS NOT NULL
           GROUP BY 1 ORDER BY 2 DESC, 1 DESC LIMIT 1""",
        tenant,
    )
    assert row is not None
    return row["delivery_date"].isoformat(), int(row["n"])


async def toggle_statuses(dev: Device, day: int, count: int) -> None:
    """`count` status toggles on the recap page, through the order editor (tests/e2e)."""
    page = dev.page
    assert page is not None
    ids: list[str] = await page.get_by_test_id("order-card").evaluate_all(
        "els => els.map(e => e.dataset.orderId)"
    )
    if not ids:
        raise RuntimeError(f"{dev.name}: no pre-orders on the recap page")
    for i in range(count):
        order = ids[(day * count + i) % len(ids)]
        await page.locator(f'[data-testid="order-card"][data-order-id="{order}"]').click()
        editor = page.get_by_test_id("order-editor")
        await editor.wait_for(state="visible")
        toggle = editor.get_by_test_id("editor-status-toggle")
        pressed = await toggle.get_attribute("aria-pressed")
        await toggle.click()
        await page.wait_for_function(
            """(was) => {
              const t = document.querySelector('[data-testid="editor-status-toggle"]');
              return t && t.getAttribute('aria-pressed') !== was;
            }""",
            arg=pressed,
            polling=50,
        )
        await page.get_by_test_id("sheet-close").click()
        await editor.wait_for(state="hidden")
        dev.toggles += 1


async def converge(h: Harness, tenant: str, devices: list[Device]) -> dict[str, Any]:
    """Wait until every device's trie root equals the server's and nothing is unsynced."""
    assert h.conn is not None
    started = time.monotonic()
    while True:
        server = await h.conn.fetchrow(
            "SELECT hash, count FROM merkle_nodes WHERE tenant_id = $1 AND path = ''", tenant
        )
        want = (int(server["hash"]), int(server["count"])) if server else (0, 0)
        states = {}
        for dev in devices:
            assert dev.page is not None
            states[dev.name] = await dev.page.evaluate(ROOT_READ)
        done = all(
            (s["hash"], s["count"]) == want and s["unsynced"] == "0" for s in states.values()
        )
        waited = time.monotonic() - started
        if done or waited > CONVERGE_S:
            return {"converged": done, "seconds": waited, "server": want, "devices": states}
        await asyncio.sleep(0.25)


class Reps:
    """Other reps of the tenant: Python devices that bootstrap, edit existing rows, sync."""

    def __init__(self, session: aiohttp.ClientSession, url: str, tokens: list[str]) -> None:
        self.clients = [SyncClient(url, ClientReplica(), session, t) for t in tokens]
        self.rng = random.Random(20)
        self.rows: list[tuple[str, str]] = []

    async def bootstrap(self) -> None:
        for c in self.clients:
            await c.bootstrap()
        regs = self.clients[0].replica.registers
        self.rows = sorted(
            (ds, row)
            for (ds, row), cols in regs.items()
            if ds in ("pre_orders", "pre_order_flows")
            and (tomb := cols.get("tombstone")) is not None
            and tomb.value == 0
        )

    async def day(self) -> int:
        """A day's work: FIELDS_PER_DAY fields, EDITS_PER_FIELD edits each by random reps,
        in PASSES passes, each rep syncing after its share of each pass."""
        rng = self.rng
        fields = [
            (ds, row, "status" if ds == "pre_orders" else "quantity")
            for ds, row in rng.sample(self.rows, FIELDS_PER_DAY)
        ]
        edits = [f for f in fields for _ in range(EDITS_PER_FIELD)]
        rng.shuffle(edits)
        made = 0
        per_pass = -(-len(edits) // PASSES)
        for p in range(PASSES):
            work = edits[p * per_pass : (p + 1) * per_pass]
            for k, c in enumerate(self.clients):
                for ds, row, col in work[k :: len(self.clients)]:
                    value: str | int = (
                        rng.choice(["pending", "confirmed"])
                        if col == "status"
                        else rng.randrange(1, 50)
                    )
                    c.replica.edit_field(ds, row, col, value)
                    made += 1
                await c.sync()
        return made


async def measure_run(
    quick: bool, builds: dict[str, Path], days: int
) -> tuple[list[Device], dict[str, Any]]:
    size = 100_000 if quick else 1_000_000
    timeout_s = 180.0 if quick else 300.0
    info: dict[str, Any] = {"size": size, "days": days}
    async with Harness() as h:
        print(f"seeding a tenant with {size:,} messages", flush=True)
        t0 = time.perf_counter()
        tenant, tokens, messages = await big_tenant(h, size)
        del messages
        info["seed_s"] = time.perf_counter() - t0
        info["server"] = await _server_state(h, tenant)
        date, orders = await busiest_date(h, tenant)
        info["recap_date"], info["recap_orders"] = date, orders
        print(f"  the devices' recap page: {date} ({orders} pre-orders)", flush=True)
        devices = [
            Device(name, dist, await start_server(h, dist), tempfile.mkdtemp(prefix="recap-idb-"))
            for name, dist in builds.items()
        ]
        try:
            async with async_playwright() as pw, aiohttp.ClientSession() as session:
                for dev in devices:
                    print(f"{dev.name}: bootstrap ({dev.dist})", flush=True)
                    dev.email = await _add_user(h, tenant)
                    dev.context = await launch(pw, dev.profile)
                    run = Run()
                    local = await _bootstrap(dev.context, dev.server.url, dev.email, timeout_s, run)
                    if local is None or run.ready is None:
                        raise RuntimeError(f"{dev.name}: bootstrap failed: {run.outcome}")
                    dev.bootstrap_s = (run.ready - run.clicked) / 1000
                    dev.page = dev.context.pages[0]
                    watch(dev.page, dev)
                    await open_day(dev, date)
                    await measure(pw, dev, "after bootstrap")
                    await reopen(pw, dev, date)
                assert h.server is not None
                reps = Reps(session, h.server.url, [tokens[u] for u in ("b", "c", "d")][:REPS])
                t0 = time.perf_counter()
                await reps.bootstrap()
                print(
                    f"other reps: {REPS} bootstrapped in {time.perf_counter() - t0:.1f} s; "
                    f"{len(reps.rows):,} pre-orders and flows to edit",
                    flush=True,
                )
                month0 = time.perf_counter()
                for day in range(days):
                    t0 = time.perf_counter()
                    made = await reps.day()
                    reps_s = time.perf_counter() - t0
                    for dev in devices:
                        await toggle_statuses(dev, day, OWN_EDITS)
                    state = await converge(h, tenant, devices)
                    for dev in devices:
                        s = state["devices"][dev.name]
                        dev.days.append(
                            {
                                "day": day + 1,
                                "messages": s["messages"],
                                "idb_bytes_while_open": dir_bytes(dev.idb_dir)[0],
                                "converged": state["converged"],
                            }
                        )
                    print(
                        f"  day {day + 1:2}: reps {made:,} edits in {reps_s:.1f} s, "
                        f"{'converged' if state['converged'] else 'NOT converged'} after "
                        f"{state['seconds']:.1f} s; "
                        + ", ".join(
                            f"{d.name} {d.days[-1]['messages']:,} msgs "
                            f"{d.days[-1]['idb_bytes_while_open']:,} B"
                            for d in devices
                        ),
                        flush=True,
                    )
                info["month_s"] = time.perf_counter() - month0
                info["server_after"] = await _server_state(h, tenant)
                for dev in devices:
                    await measure(pw, dev, "after month")
        finally:
            for dev in devices:
                try:
                    if dev.context is not None:
                        await dev.context.close()
                except Exception as exc:  # the browser went first (an interrupted run)
                    print(f"  {dev.name}: closing the browser: {type(exc).__name__}")
                dev.server.stop()
                shutil.rmtree(dev.profile, ignore_errors=True)
    return devices, info


def rows_of(devices: list[Device], info: dict[str, Any]) -> list[Row]:
    """The table's rows: ours = the after build, reference = the before build."""
    by = {d.name: d for d in devices}
    after, before = by.get("after"), by.get("before")
    label = _size_label(int(info["server"]["messages"]))
    days = int(info["days"])

    def fig(dev: Device | None, point: str, key: str) -> float | None:
        if dev is None or point not in dev.points:
            return None
        p = dev.points[point]
        return float(p["stores"]["messages"] if key == "messages" else p[key])

    def growth(dev: Device | None, key: str) -> float | None:
        a, b = fig(dev, "after bootstrap", key), fig(dev, "after month", key)
        return None if a is None or b is None else (b - a) / days

    figures = [
        ("idb_bytes", "IndexedDB directory on disk", "bytes"),
        ("copied_bytes", "IndexedDB, compacted (a fresh copy)", "bytes"),
        ("messages", "messages logged", "records"),
    ]
    out = []
    for point in ("after bootstrap", "after month"):
        for key, name, unit in figures:
            out.append(
                Row(
                    WORKLOAD,
                    f"{name} {point}, {label} msgs",
                    fig(after, point, key),
                    fig(before, point, key),
                    unit,
                    note="ours: after c91d39d; reference column: before it"
                    if key == "idb_bytes" and point == "after bootstrap"
                    else "",
                )
            )
    for key, name, unit in figures:
        out.append(
            Row(
                WORKLOAD,
                f"growth per day: {name}",
                growth(after, key),
                growth(before, key),
                unit,
                note="lazy LevelDB compaction: noisy" if key == "idb_bytes" else "",
            )
        )
    return out


def table(devices: list[Device], days: int) -> str:
    header = [
        "build",
        "bootstrap: on disk",
        "compacted",
        "messages",
        "month: on disk",
        "compacted",
        "messages",
        "per day: compacted",
        "messages",
    ]
    body = []
    for d in devices:
        a, b = d.points.get("after bootstrap"), d.points.get("after month")
        if a is None or b is None:
            body.append([d.name, *["-"] * (len(header) - 1)])
            continue
        ma, mb = a["stores"].get("messages", 0), b["stores"].get("messages", 0)
        body.append(
            [
                d.name,
                f"{a['idb_bytes']:,}",
                f"{a['copied_bytes']:,}",
                f"{ma:,}",
                f"{b['idb_bytes']:,}",
                f"{b['copied_bytes']:,}",
                f"{mb:,}",
                f"{(b['copied_bytes'] - a['copied_bytes']) / days:,.0f}",
                f"{(mb - ma) / days:,.0f}",
            ]
        )
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=False)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def run(
    quick: bool,
    before: Path | None = None,
    after: Path | None = None,
    days: int = DAYS,
) -> list[Row]:
    """Both builds through bootstrap and month; prints the table, writes the JSON, returns
    the rows for `python -m bench`."""
    head = commit()  # the tree the run starts from (others may commit meanwhile)
    tmp = Path(tempfile.mkdtemp(prefix="recap-idb-builds-"))
    revs = {"before": BEFORE_REV, "after": AFTER_REV}
    given = {"before": before, "after": after}
    builds: dict[str, Path] = {}
    try:
        for name, rev in revs.items():
            dist = given[name]
            if dist is None:
                print(f"building the {name} app ({rev}) in {tmp / name}", flush=True)
                dist = build_app(rev, tmp / name)
            if not (dist / "index.html").exists():
                raise SystemExit(f"{name}: {dist}/index.html is missing (build the app)")
            builds[name] = dist
        devices, info = asyncio.run(measure_run(quick, builds, days))
    finally:
        for name in revs:
            if (tmp / name).exists():
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(tmp / name)], cwd=ROOT, check=False
                )
        shutil.rmtree(tmp, ignore_errors=True)
    info["builds"] = {
        name: (str(given[name]) if given[name] else f"built from {rev}")
        for name, rev in revs.items()
    }
    print()
    print(table(devices, days))
    rows = rows_of(devices, info)
    for d in devices:
        if d.errors:
            print(f"{d.name}: " + "; ".join(d.errors[:5]))
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{stamp}-idb-growth{'-quick' if quick else ''}.json"
    path.write_text(
        json.dumps(
            {
                "date": stamp,
                "commit": head,
                "quick": quick,
                "machine": machine(),
                "info": info,
                "builds": {
                    d.name: {
                        "dist": str(d.dist),
                        "bootstrap_s": d.bootstrap_s,
                        "own_edits": d.toggles,
                        "points": d.points,
                        "days": d.days,
                        "errors": d.errors,
                    }
                    for d in devices
                },
                "rows": [r.as_dict() for r in rows],
            },
            indent=1,
            default=str,
        )
    )
    print(f"\nwritten to {path}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idb_growth")
    parser.add_argument("--quick", action="store_true", help="a 100k-message tenant (not 1M)")
    parser.add_argument(
        "--before", type=Path, help=f"the before app's dist (default: build {BEFORE_REV})"
    )
    parser.add_argument(
        "--after", type=Path, help=f"the after app's dist (default: build {AFTER_REV})"
    )
    parser.add_argument("--days", type=int, default=DAYS, help=f"simulated days (default {DAYS})")
    args = parser.parse_args(argv)
    rows = run(args.quick, args.before, args.after, args.days)
    print()
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
