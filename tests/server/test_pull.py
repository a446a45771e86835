"""Issue 16, the incremental pull: a replica keeps the server sequence up to which it holds
every message; the usual sync is one request that pushes the outbox and brings back exactly
what came after that watermark, with the server's root to verify it (DESIGN.md,
"Incremental pull"). The range reconciliation repairs only what is left."""

from __future__ import annotations

import asyncio
import random
import uuid

import aiohttp

from crdt.merkle import FlatTrie
from recap_client import ClientReplica, SyncClient
from tests.conftest import MakeServer, MakeTenant, Running, db_fetch


def client(server: Running, http: aiohttp.ClientSession, token: str) -> SyncClient:
    return SyncClient(server.url, ClientReplica(), http, token)


def edit_products(c: SyncClient, n: int, tag: str) -> None:
    for i in range(n):
        c.replica.edit_row("products", str(uuid.uuid4()), {"name": f"{tag}{i}", "sku": tag})


async def test_a_quiet_sync_is_one_request_bringing_exactly_what_is_new(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    edit_products(alice, 30, "a")
    await alice.sync()
    first = await bob.sync()
    assert (first.requests, first.received) == (1, 60)
    assert bob.replica.pulled_through > 0
    for round_ in range(3):
        edit_products(alice, 5, f"r{round_}")
        await alice.sync()
        edit_products(bob, 2, f"b{round_}")  # pushed in the same request, never sent back
        report = await bob.sync()
        assert (report.requests, report.rounds, report.received) == (1, 1, 10)
    again = await bob.sync()
    assert (again.requests, again.received) == (1, 0)
    await alice.sync()
    assert alice.replica.state() == bob.replica.state()
    [count] = await db_fetch(server.db_url, "SELECT max(seq) AS head FROM messages")
    assert bob.replica.pulled_through == count["head"]


async def test_a_long_absence_is_pulled_in_pages(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    server = await make_server(page_messages=40)
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    await bob.sync()
    edit_products(alice, 100, "a")
    await alice.sync()
    report = await bob.sync()
    assert report.received == 200 and report.requests == 5  # pages of 40
    assert report.rounds == 1  # no repair: the pages verified against the root
    assert bob.replica.state() == alice.replica.state()


async def test_what_the_pull_misses_the_reconciliation_repairs(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """A replica whose watermark claims more than it holds (here: a message dropped behind
    its back) is found out by the root and repaired by the ranges; and a watermark past the
    server's head (a database restored from a backup) follows the server back."""
    t = await make_tenant()
    alice, bob = client(server, http, t.token("alice")), client(server, http, t.token("bob"))
    edit_products(alice, 10, "a")
    await alice.sync()
    await bob.sync()
    lost = next(iter(bob.replica.log))
    kept = [m for ts, m in bob.replica.log.items() if ts != lost]
    bob.replica.log.clear()
    bob.replica.registers.clear()
    bob.replica.trie = FlatTrie()
    bob.replica.apply(kept)  # the log, state and trie without it
    report = await bob.sync()
    assert report.rounds > 1 and lost in bob.replica.log
    assert bob.replica.state() == alice.replica.state()

    bob.replica.pulled_through += 1_000_000  # a server restored from an older backup
    after = await bob.sync()
    [row] = await db_fetch(server.db_url, "SELECT max(seq) AS head FROM messages")
    assert bob.replica.pulled_through == row["head"]
    assert after.requests == 1


async def test_writes_through_two_servers_are_never_skipped(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """Two server processes on one database, writers on both, a reader pulling all along:
    every one of its syncs is a single pull whose result equals the server's root (the
    sequence never skips a committed message: a tenant's writes hold its lock from the
    sequence number to the commit, so a snapshot sees a prefix of the tenant's sequence)."""
    one, two = await make_server(), await make_server()
    t = await make_tenant()
    writers = [
        SyncClient(s.url, ClientReplica(), http, t.token(who))
        for s, who in ((one, "alice"), (two, "bob"), (one, "bob"), (two, "alice"))
    ]
    reader = SyncClient(two.url, ClientReplica(), http, t.token("carla"))
    rng = random.Random(16)
    stop = asyncio.Event()

    async def write(w: SyncClient) -> None:
        for i in range(25):
            edit_products(w, rng.randint(1, 6), f"{w.replica.node[:4]}-{i}")
            await w.sync()

    async def read() -> list[int]:
        rounds = []
        while not stop.is_set():
            rounds.append((await reader.sync()).rounds)
            await asyncio.sleep(0)
        return rounds

    reading = asyncio.create_task(read())
    await asyncio.gather(*(write(w) for w in writers))
    stop.set()
    seen = await reading
    for w in writers:
        await w.sync()
    final = await reader.sync()
    assert len(seen) >= 3
    assert set(seen) | {final.rounds} == {1}, seen  # never a repair round
    expected: dict[tuple[str, str, str], object] = {}
    for w in writers:
        expected.update(w.replica.state())
    assert reader.replica.state() == expected
    # The sequence is the tenant's own: 1, 2, 3, ... in commit order, whichever server.
    rows = await db_fetch(
        one.db_url, "SELECT seq FROM messages WHERE tenant_id = $1 ORDER BY seq", t.id
    )
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))


async def test_a_protocol_version_the_server_does_not_speak_is_refused(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """Every sync request names its protocol version (`Recap-Protocol`); one the server does
    not speak is a 400 that says which it does, before anything is written. No header is a
    client from before versions were named (version 1)."""
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {t.token('alice')}"}
    node = "0123456789abcdef"
    body = {"node": node, "messages": [], "pull_after": 0}
    for version, status in (("2", 200), ("1", 200), (None, 200), ("3", 400), ("two", 400)):
        headers = {**auth, **({"Recap-Protocol": version} if version else {})}
        async with http.post(f"{server.url}/sync", json=body, headers=headers) as resp:
            answer = await resp.json()
            assert resp.status == status, (version, answer)
            if status == 400:
                assert answer["code"] == "unsupported_protocol"
                assert answer["supported"] == [1, 2]
                assert "update the app" in answer["message"]
        async with http.get(f"{server.url}/snapshot", headers=headers) as resp:
            assert resp.status == status, version
    # The clients name theirs.
    c = client(server, http, t.token("alice"))
    assert c._headers()["Recap-Protocol"] == "2"
    assert (await c.sync()).requests == 1


async def test_the_protocol_answers_are_their_documented_shapes(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """What an outside client reads in the OpenAPI document is what comes: every snapshot
    page (rows, the closing page), a pull and a reconciliation round, the merkle views."""
    from sync_server.models import MerkleCompareOut, MerkleView, SnapshotPage, SyncOut

    server = await make_server(snapshot_page_rows=7)
    t = await make_tenant()
    alice = client(server, http, t.token("alice"))
    edit_products(alice, 20, "a")
    await alice.sync()
    headers = {"Authorization": f"Bearer {t.token('carla')}", "Recap-Protocol": "2"}
    kinds = []
    cursor = ""
    while True:
        async with http.get(f"{server.url}/snapshot{cursor}", headers=headers) as resp:
            assert resp.status == 200
            page = SnapshotPage.model_validate(await resp.json()).root
        kinds.append(type(page).__name__)
        if page.done:
            break
        cursor = f"?cursor={page.cursor}"
    assert kinds[0] == "SnapshotRowsPage" and kinds[-1] == "SnapshotEndPage"
    for body in (
        {"node": "0123456789abcdef", "pull_after": 0},
        {"node": "0123456789abcdef", "summary": {"scopes": [""], "nodes": []}},
    ):
        async with http.post(f"{server.url}/sync", json=body, headers=headers) as resp:
            answer = SyncOut.model_validate(await resp.json())
        assert answer.head > 0 and answer.root[1] == 40
    async with http.get(f"{server.url}/debug/merkle?depth=2", headers=headers) as resp:
        assert MerkleView.model_validate(await resp.json()).count == 40
    async with http.post(
        f"{server.url}/debug/merkle/compare", json={"trie": {"hash": 0}}, headers=headers
    ) as resp:
        compared = MerkleCompareOut.model_validate(await resp.json())
    assert not compared.in_sync and compared.server_messages


async def test_each_tenant_numbers_its_messages_from_one_without_gaps(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """Two tenants writing at once, and a batch resent (its duplicates take no number):
    each tenant's sequence is 1..n, with its own counter (migration 0018)."""
    one, two = await make_tenant("One"), await make_tenant("Two")
    a = client(server, http, one.token("alice"))
    b = client(server, http, two.token("alice"))

    async def write(c: SyncClient, n: int) -> None:
        for i in range(n):
            edit_products(c, 3, f"{i}")
            await c.sync()

    await asyncio.gather(write(a, 8), write(b, 5))
    resent = {"node": a.replica.node, "messages": [m.to_json() for m in a.replica.log.values()]}
    async with http.post(
        f"{server.url}/sync", json=resent, headers={"Authorization": f"Bearer {one.token('alice')}"}
    ) as resp:
        assert resp.status == 200 and (await resp.json())["inserted"] == 0
    for tenant, n in ((one, 8 * 6), (two, 5 * 6)):
        rows = await db_fetch(
            server.db_url, "SELECT seq FROM messages WHERE tenant_id = $1 ORDER BY seq", tenant.id
        )
        assert [r["seq"] for r in rows] == list(range(1, n + 1))
