"""Bootstrap of a new device from the snapshot, against the full replay of the history;
writes racing the bootstrap; and the merkle debug endpoints and the `diff` CLI."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from crdt import merkle
from crdt.merkle import FlatTrie, key_range, timestamp_key
from crdt.message import Message
from crdt.timestamp import iso_millis
from recap_client import ClientReplica, SyncClient
from seed import demo_stamper
from sync_server import database
from sync_server.settings import PROJECT_ROOT
from sync_server.storage.apply import apply_messages
from tests.conftest import TEST_SECRET, MakeServer, MakeTenant, Running, Tenant


def new_row() -> str:
    return str(uuid.uuid4())


def client(server: Running, http: aiohttp.ClientSession, token: str) -> SyncClient:
    return SyncClient(server.url, ClientReplica(), http, token)


async def get(http: aiohttp.ClientSession, url: str, token: str) -> Any:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return body


async def post(http: aiohttp.ClientSession, url: str, token: str, payload: object) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(url, data=orjson.dumps(payload), headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return body


async def seed(db_url: str, tenant: Tenant, days: int = 2) -> int:
    """The demo data set (partners, products, pre-orders with flows over `days` before and
    after today) through the same apply path as a push, in batches."""
    messages = demo_stamper(random.Random(7), days, days, partners=8, products=10).messages
    pool = await database.create_pool(db_url, 1, 2)
    try:
        async with pool.acquire() as conn:
            for i in range(0, len(messages), 400):
                batch = messages[i : i + 400]
                await apply_messages(conn, tenant.id, tenant.user_id("carla"), batch)
    finally:
        await pool.close()
    return len(messages)


async def server_root(db_url: str, tenant_id: str) -> tuple[int, int]:
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow(
            "SELECT hash, count FROM merkle_nodes WHERE tenant_id = $1 AND path = ''", tenant_id
        )
    finally:
        await conn.close()
    return (row["hash"], row["count"]) if row else (0, 0)


async def stored_trie(db_url: str, tenant_id: str) -> FlatTrie:
    """The trie of the tenant's stored messages, recomputed from the log."""
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT timestamp FROM messages WHERE tenant_id = $1", tenant_id)
    finally:
        await conn.close()
    trie = FlatTrie()
    for r in rows:
        trie.insert(r["timestamp"])
    return trie


def history_edits(editor: ClientReplica, rng: random.Random, n: int, start: int = 0) -> None:
    """Overwrites, deletes and new rows on top of the seeded data."""
    flows = list(editor.rows("pre_order_flows"))
    orders = list(editor.rows("pre_orders"))
    partners = list(editor.rows("partners"))
    for i in range(start, start + n):
        kind = i % 4
        if kind == 0:
            editor.edit_field("pre_order_flows", rng.choice(flows), "quantity", rng.randint(1, 99))
        elif kind == 1:
            editor.edit_field("pre_orders", rng.choice(orders), "tombstone", 1)
        elif kind == 2:
            editor.edit_field("partners", rng.choice(partners), "name", f"Renamed {i}")
        else:
            editor.edit_row("products", new_row(), {"name": f"New {i}", "sku": f"N{i}"})


async def test_bootstrap_equals_a_full_replay_and_keeps_syncing(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    server = await make_server(snapshot_page_rows=20)
    t = await make_tenant()
    seeded = await seed(server.db_url, t)
    editor = client(server, http, t.token("bob"))
    await editor.sync()
    history_edits(editor.replica, random.Random(1), 40)
    await editor.sync()

    replay = client(server, http, t.token("alice"))
    replay_report = await replay.sync()
    history = len(editor.replica.log)
    assert history == seeded + 50
    assert replay_report.received == history  # every message of the history

    boot = client(server, http, t.token("alice"))
    # The client asks for the next page before adopting the current one (their work overlaps).
    asked: list[str] = []
    adopted_after: list[int] = []
    fetch, adopt = boot._get, boot.replica.adopt_snapshot_rows

    async def counting_get(path: str, report: Any) -> Any:
        asked.append(path)
        return await fetch(path, report)

    def recording_adopt(dataset: str, columns: list[str], rows: list[list[Any]]) -> None:
        adopted_after.append(len(asked))
        adopt(dataset, columns, rows)

    boot._get = counting_get  # type: ignore[method-assign]
    boot.replica.adopt_snapshot_rows = recording_adopt  # type: ignore[method-assign]
    progress: list[tuple[int, int]] = []
    report = await boot.bootstrap(lambda done, total: progress.append((done, total)))
    assert adopted_after == [k + 2 for k in range(len(adopted_after))]
    assert boot.replica.state() == replay.replica.state() == editor.replica.state()
    root = await server_root(server.db_url, t.id)
    assert boot.replica.trie.get("") == replay.replica.trie.get("") == root
    assert root[1] == history
    # Every node of the adopted trie, not just the root, is the history's.
    assert boot.replica.trie.nodes == (await stored_trie(server.db_url, t.id)).nodes
    # Rows, not history: the bootstrapped device holds no log, and it took pages of 20.
    assert len(boot.replica.log) == 0
    total = progress[-1][1]
    assert progress[-1] == (total, total) and total > 100
    assert report.requests >= total // 20

    # Afterwards it is an ordinary replica: its edits reach the others and roots agree.
    flow = next(iter(boot.replica.rows("pre_order_flows")))
    boot.replica.edit_field("pre_order_flows", flow, "quantity", 12345)
    row = new_row()
    boot.replica.edit_row("partners", row, {"name": "Booted", "short_name": "B"})
    assert (await boot.sync()).pushed == 3
    await replay.sync()
    assert replay.replica.rows("pre_order_flows")[flow]["quantity"] == 12345
    assert replay.replica.rows("partners")[row]["name"] == "Booted"
    # ... and the others' edits reach it.
    replay.replica.edit_field("pre_order_flows", flow, "quantity", 7)
    await replay.sync()
    await boot.sync()
    assert boot.replica.rows("pre_order_flows")[flow]["quantity"] == 7
    assert boot.replica.state() == replay.replica.state()
    root = await server_root(server.db_url, t.id)
    assert boot.replica.trie.get("") == replay.replica.trie.get("") == root
    assert (await stored_trie(server.db_url, t.id)).get("") == root


async def test_writes_during_a_paged_bootstrap_are_not_lost(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """The pages are read at different moments; between every two of them another rep
    writes (edits of rows already paged and not yet paged, deletes, new rows). The last
    page's messages close the gap: the adopted state equals the server's, with no tail sync."""
    server = await make_server(snapshot_page_rows=10)
    t = await make_tenant()
    await seed(server.db_url, t, days=1)
    editor = client(server, http, t.token("bob"))
    await editor.sync()
    rng = random.Random(2)

    replica = ClientReplica()
    url = server.url + "/snapshot"
    pushed_during = 0
    pages = 0
    datasets: list[str] = []
    last_of_dataset: list[bool] = []
    while True:
        page = await get(http, url, t.token("alice"))
        if page["done"]:
            break
        pages += 1
        replica.adopt_snapshot_rows(page["dataset"], page["columns"], page["rows"])
        datasets.append(page["dataset"])
        last_of_dataset.append(page["dataset_done"])
        before = len(editor.replica.outbox)
        history_edits(editor.replica, rng, 2, start=2 * pages)
        pushed_during += len(editor.replica.outbox) - before
        await editor.sync()
        url = server.url + "/snapshot?cursor=" + page["cursor"]
    assert pages > 8 and datasets[0] == "partners" and datasets[-1] == "profiles"
    # `dataset_done` marks exactly each dataset's last page.
    assert last_of_dataset == [
        i == len(datasets) - 1 or datasets[i + 1] != datasets[i] for i in range(len(datasets))
    ]
    # Every message written after the first page comes with the last one.
    assert len(page["messages"]) == pushed_during
    replica.adopt_snapshot_trie(page["trie"], page["seq"])
    replica.receive_remote(page["messages"])

    assert replica.state() == editor.replica.state()
    root = await server_root(server.db_url, t.id)
    assert replica.trie.get("") == editor.replica.trie.get("") == root

    # A tail sync has nothing left to do.
    boot = SyncClient(server.url, replica, http, t.token("alice"))
    tail = await boot.sync()
    assert tail.received == 0 and tail.pushed == 0 and tail.rounds == 1
    assert replica.state() == editor.replica.state()


async def test_late_messages_come_in_bounded_pages(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """More messages arrived during the bootstrap than a page holds: they come a page at a
    time before the closing page (no response is larger than a page), and the client that
    follows them ends in the server's state."""
    server = await make_server(snapshot_page_rows=10, page_messages=5)
    t = await make_tenant()
    await seed(server.db_url, t, days=1)
    editor = client(server, http, t.token("bob"))
    await editor.sync()
    rng = random.Random(3)

    # By hand: 23 messages land after the first page.
    replica = ClientReplica()
    page = await get(http, server.url + "/snapshot", t.token("alice"))
    history_edits(editor.replica, rng, 23)
    written = len(editor.replica.outbox)
    await editor.sync()
    late: list[dict[str, Any]] = []
    sizes: list[int] = []
    while not page["done"]:
        if "dataset" in page:
            replica.adopt_snapshot_rows(page["dataset"], page["columns"], page["rows"])
            assert len(page["rows"]) <= 10
        else:
            assert "trie" not in page
            sizes.append(len(page["messages"]))
            late += page["messages"]
        page = await get(http, f"{server.url}/snapshot?cursor={page['cursor']}", t.token("alice"))
    sizes.append(len(page["messages"]))
    assert all(size <= 5 for size in sizes) and len(sizes) == -(-written // 5)
    everything = late + page["messages"]
    assert len(everything) == written
    assert [m["seq"] for m in everything] == sorted({m["seq"] for m in everything})
    replica.adopt_snapshot_trie(page["trie"], page["seq"])
    replica.receive_remote(everything)
    assert replica.state() == editor.replica.state()
    assert replica.trie.get("") == await server_root(server.db_url, t.id)

    # The client does the same on its own, with writes landing while it pages.
    boot = client(server, http, t.token("alice"))
    fetch = boot._get
    calls = 0

    async def writing_get(path: str, report: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # after the first page: 17 more edits, several late pages
            history_edits(editor.replica, rng, 17, start=100)
            await editor.sync()
        return await fetch(path, report)

    boot._get = writing_get  # type: ignore[method-assign]
    await boot.bootstrap()
    assert boot.replica.state() == editor.replica.state()
    assert boot.replica.trie.get("") == await server_root(server.db_url, t.id)


async def test_snapshot_cursors_are_sealed_to_their_tenant(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """A forged cursor (the old unsigned form with `start` 0, which asked for the whole
    history in one closing page), an altered one, or another tenant's: 400, nothing read."""
    import base64

    server = await make_server(snapshot_page_rows=10)
    a, b = await make_tenant("A"), await make_tenant("B")
    await seed(server.db_url, a, days=1)
    first = await get(http, server.url + "/snapshot", a.token("alice"))
    cursor = first["cursor"]
    body, _, sig = cursor.partition(".")
    forged_state = orjson.dumps({"start": 0, "ds": 4, "after": "", "t": a.id})
    forged = base64.urlsafe_b64encode(forged_state).decode().rstrip("=")
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    attempts = {
        "unsigned": forged,
        "re-bodied": f"{forged}.{sig}",
        "altered": f"{flipped}.{sig}",
        "no signature": body,
        "garbage": "..%%",
    }
    for name, text in attempts.items():
        async with http.get(
            f"{server.url}/snapshot",
            params={"cursor": text},
            headers={"Authorization": f"Bearer {a.token('alice')}"},
        ) as resp:
            reply = await resp.json()
            assert (resp.status, reply["code"]) == (400, "bad_request"), (name, reply)
    # Tenant B cannot page through A's snapshot with A's cursor.
    async with http.get(
        f"{server.url}/snapshot",
        params={"cursor": cursor},
        headers={"Authorization": f"Bearer {b.token('alice')}"},
    ) as resp:
        assert resp.status == 400
    async with http.get(
        f"{server.url}/snapshot",
        params={"cursor": "x" * 1001},
        headers={"Authorization": f"Bearer {a.token('alice')}"},
    ) as resp:
        assert resp.status == 422
    # The real cursor still works for A.
    assert (await get(http, f"{server.url}/snapshot?cursor={cursor}", a.token("alice")))[
        "done"
    ] is False


def minute_stamps(start_ms: int, node: str, n: int) -> list[str]:
    return [f"{iso_millis(start_ms + i * 1000)}-0000-{node}" for i in range(n)]


async def test_debug_merkle_compare_and_the_diff_cli(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant, tmp_path: Path
) -> None:
    t = await make_tenant(reps=("alice",), admins=("carla",))
    admin = t.token("carla")
    await seed(server.db_url, t, days=1)
    # Two old minutes (three days ago, and two hours later) with five messages each.
    writer = ClientReplica()
    minute = int(time.time()) // 60 - 3 * 1440
    m1, m2 = minute * 60_000, (minute + 120) * 60_000
    crafted = [
        Message("pre_order_flows", new_row(), "quantity", i, ts)
        for i, ts in enumerate(
            minute_stamps(m1, writer.node, 5) + minute_stamps(m2, writer.node, 5)
        )
    ]
    await post(
        http,
        server.url + "/sync",
        t.token("alice"),
        {"node": writer.node, "messages": [m.to_json() for m in crafted]},
    )

    # GET: the reference-format trie of exactly the stored messages.
    stored = await stored_trie(server.db_url, t.id)
    full = stored.to_json()
    body = await get(http, server.url + "/debug/merkle", admin)
    root = await server_root(server.db_url, t.id)
    assert body["trie"] == full
    assert (body["root_hash"], body["count"]) == root == stored.get("")
    assert body["trie"]["hash"] == root[0]
    key = timestamp_key(m1)
    for path in (key[:3], key[:9], key):
        sub = await get(http, f"{server.url}/debug/merkle?path={path}", admin)
        assert sub["trie"] == merkle.subtree(full, path) and sub["count"] == stored.count(path)
    pruned = await get(http, server.url + "/debug/merkle?prune=1", admin)
    assert pruned["trie"] == merkle.prune(full, 1)
    shallow = await get(http, server.url + "/debug/merkle?depth=2", admin)
    assert shallow["trie"]["hash"] == root[0]
    assert all(
        set(c) == {"hash"} for k, n in shallow["trie"].items() if k != "hash" for c in _kids(n)
    )

    # A client replica that has everything but one message of the first old minute.
    replay = client(server, http, admin)
    await replay.sync()
    assert replay.replica.trie.get("") == root
    missing = crafted[2]
    partial = FlatTrie()
    for ts in replay.replica.log:
        if ts != missing.timestamp:
            partial.insert(ts)
    compared = await post(
        http, server.url + "/debug/merkle/compare", admin, {"trie": partial.to_json()}
    )
    assert compared["in_sync"] is False and compared["truncated"] is False
    assert [(r["start"], r["end"]) for r in compared["ranges"]] == [(m1, m1 + 60_000)]
    assert compared["ranges"][0]["from"] == iso_millis(m1)
    assert [m["timestamp"] for m in compared["server_messages"]] == [
        m.timestamp for m in crafted[:5]
    ]
    assert {
        "dataset": missing.dataset,
        "row": missing.row,
        "column": missing.column,
        "value": missing.value,
        "timestamp": missing.timestamp,
    }.items() <= next(
        m for m in compared["server_messages"] if m["timestamp"] == missing.timestamp
    ).items()
    # Missing one message in each old minute: two separate ranges, every one reported.
    two_missing = FlatTrie()
    for ts in replay.replica.log:
        if ts not in (missing.timestamp, crafted[7].timestamp):
            two_missing.insert(ts)
    two = await post(
        http, server.url + "/debug/merkle/compare", admin, {"trie": two_missing.to_json()}
    )
    assert [(r["start"], r["end"]) for r in two["ranges"]] == [
        (m1, m1 + 60_000),
        (m2, m2 + 60_000),
    ]
    in_sync = await post(
        http,
        server.url + "/debug/merkle/compare",
        admin,
        {"trie": replay.replica.trie.to_json()},
    )
    assert {k: in_sync[k] for k in ("in_sync", "ranges", "server_messages", "truncated")} == {
        "in_sync": True,
        "ranges": [],
        "server_messages": [],
        "truncated": False,
    }

    # The CLI, on two exported files and against the live server.
    server_file, client_file = tmp_path / "server.json", tmp_path / "client.json"
    server_file.write_bytes(orjson.dumps(body))  # the endpoint's answer, as saved by curl
    client_file.write_bytes(orjson.dumps(partial.to_json()))  # a client's export
    expected = f"  {iso_millis(m1)} .. {iso_millis(m1 + 60_000)}  (1 min)"
    code, out = await cli(tmp_path, "diff", str(server_file), str(client_file))
    assert code == 1, out
    assert out.splitlines()[:2] == ["1 divergent range(s):", expected]
    code, out = await cli(tmp_path, "diff", str(server_file), str(server_file))
    assert code == 0 and out.startswith("in sync"), out
    code, out = await cli(tmp_path, "diff", server.url, str(client_file), "--token-a", admin)
    assert code == 1 and out.splitlines()[:2] == ["1 divergent range(s):", expected], out
    assert key_range(key) == (m1, m1 + 60_000)


def _kids(node: Any) -> list[Any]:
    return [node[k] for k in ("0", "1", "2") if isinstance(node, dict) and k in node]


async def cli(tmp: Path, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "RECAP_TOKEN_SECRET": TEST_SECRET,
        "RECAP_DATA_DIR": str(tmp),
    }
    env.pop("DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sync_server",
        *args,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()
