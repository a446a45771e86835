"""The sync workloads of issue 6, through the real server over HTTP on loopback, with the
real Actual Budget sync server and a client on @actual-app/crdt (bench/actual_peer.py) on
the same messages, in the same run, where it applies (the reference column)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
import orjson

from crdt import merkle
from crdt.merkle import FlatTrie
from crdt.message import Message
from crdt.reconcile import frontier
from crdt.timestamp import Timestamp, millis_of
from recap_client import ClientReplica, SyncClient

from .actual_peer import ActualPeer, ActualReport
from .harness import Harness, percentile
from .history import history
from .many_reps import GENERATORS, many_reps
from .table import Row

DAY = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def message_bytes(messages: list[Message]) -> int:
    """The minimum: the messages themselves as JSON, nothing else."""
    return len(orjson.dumps([m.to_json() for m in messages]))


def replica_from(
    messages: list[Message], node: str | None = None, pulled_through: int = 0
) -> ClientReplica:
    """A replica holding exactly these messages (setup, not measured: log and trie only),
    which has pulled everything up to the server sequence `pulled_through` (as a replica
    that last synced when the newest of them was stored; 0 would pull the whole history
    again)."""
    replica = ClientReplica(node)
    replica.pulled_through = pulled_through
    for m in messages:
        replica.log[m.timestamp] = m
        replica.trie.insert(m.timestamp, millis_of(m.timestamp))
    return replica


def pruned_json(flat: FlatTrie, n: int = 2) -> merkle.Trie:
    """`prune(trie, n)` of a flat trie without building the whole nested trie first: the
    trie Actual's server ships in every /sync response."""

    def build(path: str) -> merkle.Trie:
        node: merkle.Trie = {"hash": flat.hash(path)}
        if not node["hash"]:
            return node
        kids = [k for k in merkle.CHILD_KEYS if path + k in flat.nodes]
        for k in kids[-n:]:
            node[k] = build(path + k)
        return node

    return build("")


# -- workloads -----------------------------------------------------------------------------
async def push(
    session: aiohttp.ClientSession, url: str, token: str, node: str, messages: list[Message]
) -> None:
    """A push alone (no summary, so nothing is pulled back): what ingest measures."""
    body = orjson.dumps({"node": node, "messages": [m.to_json() for m in messages]})
    async with session.post(
        url + "/sync",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    ) as resp:
        raw = await resp.read()
        assert resp.status == 200, raw[:300]


def new_flows(replica: ClientReplica, count: int) -> list[Message]:
    out: list[Message] = []
    for i in range(count // 5):
        out += replica.edit_row(
            "pre_order_flows",
            str(uuid.uuid4()),
            {
                "pre_order_id": str(uuid.uuid4()),
                "product_id": str(uuid.uuid4()),
                "quantity": i % 50,
                "weight": i % 7,
                "tombstone": 0,
            },
        )
    return out


async def ingest(h: Harness, quick: bool, actual: ActualPeer) -> list[Row]:
    """Writes arriving: one big push, and 100 devices pushing at once, on both servers
    (Actual's: the same messages through its `/sync`, from its Node client process, which
    sends each batch as one protobuf request that pulls nothing)."""
    assert h.server is not None
    _, tokens = await h.tenant("ingest", ["w"] + [f"c{i}" for i in range(100)])
    big = 10_000
    rows = []
    async with aiohttp.ClientSession() as session:
        writer = ClientReplica()
        batch = new_flows(writer, big)
        cpu0, t0 = h.server.cpu_seconds(), time.perf_counter()
        await push(session, h.server.url, tokens["w"], writer.node, batch)
        seconds, cpu = time.perf_counter() - t0, h.server.cpu_seconds() - cpu0
        await actual.budget("ingest")
        ref_cpu0 = actual.cpu_seconds()
        ref_seconds = await actual.push("ingest", batch)
        ref_cpu = actual.cpu_seconds() - ref_cpu0
        rows.append(
            Row(
                "1 ingest",
                "one push of 10k messages",
                big / seconds,
                big / ref_seconds,
                "msg/s",
                "higher",
                f"{seconds:.2f} s, server CPU {cpu / 10:.3f} s per 1k msgs; Actual "
                f"{ref_seconds:.2f} s, server CPU {ref_cpu / 10:.3f} s per 1k msgs",
            )
        )
        clients = [(ClientReplica(), tokens[f"c{i}"]) for i in range(100)]
        batches = [(r, t, new_flows(r, 100)) for r, t in clients]
        cpu0, t0 = h.server.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(push(session, h.server.url, t, r.node, b) for r, t, b in batches))
        seconds, cpu = time.perf_counter() - t0, h.server.cpu_seconds() - cpu0
        ref_cpu0, t0 = actual.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(actual.push("ingest", b) for _, _, b in batches))
        ref_seconds, ref_cpu = time.perf_counter() - t0, actual.cpu_seconds() - ref_cpu0
        rows.append(
            Row(
                "1 ingest",
                "100 clients x 100 messages at once",
                10_000 / seconds,
                10_000 / ref_seconds,
                "msg/s",
                "higher",
                f"{seconds:.2f} s, server CPU {cpu / 10:.3f} s per 1k msgs (one tenant: the "
                f"100 batches serialize on its lock); Actual {ref_seconds:.2f} s, server CPU "
                f"{ref_cpu / 10:.3f} s per 1k msgs (one budget)",
            )
        )
    return rows


async def big_tenant(
    h: Harness, size: int, actual: ActualPeer | None = None
) -> tuple[str, dict[str, str], list[Message]]:
    """The big tenant, and (given the peer) the same messages in Actual's budget "big"."""
    end = now_ms() - 4 * DAY  # before the 3-day offline window of the catch-up workload
    start = end - 3 * 365 * DAY
    messages = list(history(size, start, end, seed=11))
    tenant, tokens = await h.tenant("big", ["a", "b", "c", "d"])
    seconds = await h.seed(tenant, messages)
    print(
        f"  seeded {len(messages):,} messages in {seconds:.1f} s "
        f"({len(messages) / seconds:,.0f} msg/s through the apply path)",
        flush=True,
    )
    if actual is None:
        return tenant, tokens, messages
    await actual.budget("big")
    seconds = await actual.push("big", messages)
    print(
        f"  and into Actual's server in {seconds:.1f} s "
        f"({len(messages) / seconds:,.0f} msg/s through /sync, 50k per request)",
        flush=True,
    )
    return tenant, tokens, messages


async def bootstrap(
    h: Harness, actual: ActualPeer, tokens: dict[str, str], messages: list[Message]
) -> list[Row]:
    """A new device's first complete replica: Recap's snapshot against the real Actual
    client's first sync on a new replica of the same budget (its `since` finds nothing, the
    merkle diff points at the first message, and the resend brings the whole history: what
    a real device does after downloading a budget file older than the history; that file's
    download, small here, is not counted, which favours Actual). Recap's own full-history
    replay is in the notes."""
    assert h.server is not None
    rows_count = await h.conn.fetchval("SELECT count(*) FROM pre_order_flows") if h.conn else 0
    async with aiohttp.ClientSession() as session:
        snap = SyncClient(h.server.url, ClientReplica(), session, tokens["a"])
        r1 = await snap.bootstrap()
        replay = SyncClient(h.server.url, ClientReplica(), session, tokens["b"])
        r2 = await replay.sync()
        assert snap.replica.trie.get("") == replay.replica.trie.get("")
        assert snap.replica.state() == replay.replica.state()
    await actual.replica("bootstrap", "big", "00000000000b0001")
    ref = await actual.sync("bootstrap", lacked=False)
    await actual.drop("bootstrap")
    n = f"{len(messages) / 1e6:.1f}M" if len(messages) >= 10**6 else f"{len(messages) // 1000}k"
    replay_note = (
        f"Recap's full-history replay: {r2.seconds:.2f} s, "
        f"{r2.bytes_received + r2.bytes_sent:,} B in {r2.requests} requests"
    )
    return [
        Row(
            "3 bootstrap",
            f"seconds to a complete replica, {n} msgs",
            r1.seconds,
            ref.seconds,
            "s",
            note=_gave_up(ref)
            or f"snapshot vs the real Actual client's first sync ({ref.requests} requests); "
            f"{rows_count:,} flows; {replay_note}",
        ),
        Row(
            "3 bootstrap",
            f"bytes transferred, {n} msgs",
            r1.bytes_received + r1.bytes_sent,
            ref.bytes,
            "bytes",
            note=f"Recap gzip JSON in {r1.requests} requests; Actual protobuf, uncompressed",
        ),
    ]


def _gave_up(ref: ActualReport) -> str:
    return "" if ref.converged else f"Actual's client failed: {ref.failure}"


async def catch_up(
    h: Harness,
    actual: ActualPeer,
    tenant: str,
    tokens: dict[str, str],
    messages: list[Message],
    quick: bool,
) -> list[Row]:
    assert h.server is not None
    others_n, local_n = (3000, 300) if quick else (30_000, 300)
    base = list(messages)
    offline_at = now_ms() - 3 * DAY
    others = list(
        history(
            others_n,
            offline_at,
            now_ms() - 60_000,
            seed=23,
            nodes=[f"{i:016x}" for i in range(0xB1, 0xB9)],
        )
    )
    assert h.conn is not None
    synced_through = await h.conn.fetchval(
        "SELECT max(seq) FROM messages WHERE tenant_id = $1", tenant
    )
    await h.seed(tenant, others)
    await actual.push("big", others)

    def offline_rep(node: str) -> tuple[ClientReplica, list[Message]]:
        replica = replica_from(base, node, synced_through)
        rng = random.Random(node)
        edits = []
        flows = [m.row for m in base[-5000:] if m.dataset == "pre_order_flows"]
        for i in range(local_n):
            t = offline_at + (i + 1) * (3 * DAY - 120_000) // local_n
            m = replica.edit("pre_order_flows", rng.choice(flows), "quantity", i % 40, t)
            replica.outbox[m.timestamp] = m
            edits.append(m)
        return replica, edits

    rows = []
    async with aiohttp.ClientSession() as session:
        ours_replica, ours_edits = offline_rep("00000000000c0001")
        minimum = message_bytes(others) + message_bytes(ours_edits)
        client = SyncClient(h.server.url, ours_replica, session, tokens["c"])
        report = await client.sync()
        ours_bytes = report.bytes_sent + report.bytes_received
        # The catch-up's conflict notices come 200 a sync (CONFLICTS_PAGE): the syncs after
        # it bring the rest first; the sync with nothing new is the first that brings nothing.
        drained = 0
        idle = await client.sync()
        while idle.conflicts and drained < 20:
            drained += 1
            idle = await client.sync()
        # Actual: a replica that last synced when the base history ended, with the same
        # edits made offline (same times, same values; its own node).
        _, ref_edits = offline_rep("00000000000c0002")
        await actual.replica("catch-up", "big", "00000000000c0002")
        await actual.load("catch-up", base)
        await actual.local("catch-up", ref_edits)
        ref = await actual.sync("catch-up")
        ref_idle = await actual.sync("catch-up")
        await actual.drop("catch-up")
        ref_min = message_bytes(others) + message_bytes(ref_edits)
    label = f"{local_n} local edits, {others_n // 1000}k others' msgs over 3 days"
    rows.append(
        Row(
            "4 catch-up",
            f"round trips ({label})",
            report.requests,
            ref.requests,
            "requests",
            note=_gave_up(ref) or "reference column: the real Actual server and client",
        )
    )
    rows.append(
        Row(
            "4 catch-up",
            "bytes / minimum bytes",
            ours_bytes / minimum,
            ref.bytes / ref_min,
            "x",
            note=f"ours {ours_bytes:,} B, minimum {minimum:,} B; Actual {ref.bytes:,} B "
            f"(protobuf), its minimum {ref_min:,} B (the same messages as JSON)",
        )
    )
    rows.append(Row("4 catch-up", "seconds", report.seconds, ref.seconds, "s"))
    n = f"{len(base) / 1e6:.1f}M" if len(base) >= 10**6 else f"{len(base) // 1000}k"
    rows.append(
        Row(
            "6 per-sync overhead",
            f"bytes of a sync with nothing new ({n} msgs)",
            idle.bytes_sent + idle.bytes_received,
            ref_idle.bytes,
            "bytes",
            note=f"ours {idle.requests} request(s) (after {drained} that brought the "
            f"catch-up's remaining conflict notices), Actual {ref_idle.requests}: "
            "Actual's server answers with its pruned merkle every time",
        )
    )
    return rows


async def repair(h: Harness, actual: ActualPeer, tenant: str, tokens: dict[str, str]) -> list[Row]:
    assert h.server is not None and h.conn is not None
    records = await h.conn.fetch(
        "SELECT timestamp, dataset, row_id, col, value, seq FROM messages WHERE tenant_id = $1 "
        "ORDER BY timestamp",
        tenant,
    )
    head = max(r["seq"] for r in records)
    stored = [
        Message(r["dataset"], r["row_id"], r["col"], r["value"], r["timestamp"]) for r in records
    ]
    month_ago = now_ms() - 30 * DAY
    victim = min(
        (m for m in stored if millis_of(m.timestamp) >= month_ago),
        key=lambda m: millis_of(m.timestamp),
    )
    rest = [m for m in stored if m.timestamp != victim.timestamp]
    rows = []
    async with aiohttp.ClientSession() as session:
        ours = SyncClient(
            h.server.url, replica_from(rest, "00000000000d0001", head), session, tokens["a"]
        )
        report = await ours.sync()
        assert victim.timestamp in ours.replica.log
    # Actual: a replica that holds everything its server holds but that one message (the
    # server's budget "big" holds the same messages as the tenant).
    await actual.replica("repair", "big", "00000000000d0002")
    await actual.load("repair", rest)
    ref = await actual.sync("repair")
    await actual.drop("repair")
    assert not ref.converged or any(m.timestamp == victim.timestamp for m in ref.lacked)
    n = f"{len(stored) / 1e6:.1f}M" if len(stored) >= 10**6 else f"{len(stored) // 1000}k"
    rows.append(
        Row(
            "5 repair",
            f"bytes to find+fix 1 msg from a month ago ({n} msgs)",
            report.bytes_sent + report.bytes_received,
            ref.bytes,
            "bytes",
            note="reference column: the real Actual server and client",
        )
    )
    rows.append(
        Row(
            "5 repair",
            "round trips",
            report.requests,
            ref.requests,
            "requests",
            note=_gave_up(ref),
        )
    )
    rows.append(Row("5 repair", "seconds", report.seconds, ref.seconds, "s"))
    rows.append(Row("5 repair", "summary nodes sent (all rounds)", report.summary_nodes, None))
    return rows


def summary_overhead(sizes: list[int]) -> list[Row]:
    rows = []
    end = now_ms()
    for size in sizes:
        trie = FlatTrie()
        for i, ts in enumerate(_timestamps(size, end - 3 * 365 * DAY, end)):
            trie.insert(ts, millis_of(ts))
            del i
        ours = len(orjson.dumps({"scopes": [""], "nodes": frontier(trie).nodes}))
        ref = len(orjson.dumps(pruned_json(trie)))
        label = f"{size / 1e6:.0f}M" if size >= 10**6 else f"{size // 1000}k"
        rows.append(
            Row(
                "6 summary overhead",
                f"bytes per sync request, {label} msgs",
                ours,
                ref,
                "bytes",
                note="frontier summary vs Actual's pruned trie (computed with Recap's port "
                "of its prune; measured on the wire in '6 per-sync overhead')",
            )
        )
    return rows


def _timestamps(count: int, start: int, end: int) -> list[str]:
    rng = random.Random(count)
    step = (end - start) // count
    return [
        str(
            Timestamp(
                start + i * step + rng.randrange(max(step, 1)), 0, f"{rng.randrange(8) + 0xA1:016x}"
            )
        )
        for i in range(count)
    ]


async def dashboard(h: Harness, tokens: dict[str, str], quick: bool) -> list[Row]:
    assert h.server is not None
    url = h.server.url
    duration = 3.0 if quick else 8.0
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = {"Authorization": f"Bearer {tokens['a']}"}

        async def reader() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                t = time.perf_counter()
                async with session.get(url + "/api/v1/summary", headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                latencies.append((time.perf_counter() - t) * 1000)

        async def rep(i: int) -> None:
            c = SyncClient(url, ClientReplica(), session, tokens["b"])
            await c.bootstrap()
            while time.perf_counter() < stop:
                c.replica.edit_field("pre_order_flows", str(uuid.uuid4()), "quantity", i)
                await c.sync()
                await asyncio.sleep(0.2)

        await asyncio.gather(*(reader() for _ in range(200)), *(rep(i) for i in range(5)))
    return [
        Row(
            "7 dashboard under load",
            "summary requests/s, 200 readers + 5 syncing reps",
            len(latencies) / duration,
            None,
            "req/s",
            "higher",
            f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms,"
            f" errors {errors}; cache invalidated by every rep sync",
        )
    ]


#: Another suite's workload on the big tenant, run right after the bootstrap workload (so it
#: sees the same data) instead of seeding a second big tenant: (harness, tenant, quick).
BigTenantHook = Callable[[Harness, str, bool], Awaitable[list[Row]]]


def run(quick: bool, after_bootstrap: BigTenantHook | None = None) -> list[Row]:
    return asyncio.run(_run(quick, after_bootstrap))


async def _run(quick: bool, after_bootstrap: BigTenantHook | None = None) -> list[Row]:
    size = 50_000 if quick else 1_000_000
    rows: list[Row] = []
    # Actual's replicas in as many client processes as Recap's load generators (many reps).
    async with Harness() as h, ActualPeer(clients=GENERATORS) as actual:
        print("workload 1: ingest", flush=True)
        rows += await ingest(h, quick, actual)
        print("workload 2: many reps", flush=True)
        rows += await many_reps(h, quick, actual)
        print(f"seeding a tenant with {size:,} messages", flush=True)
        tenant, tokens, messages = await big_tenant(h, size, actual)
        print("workload 3: bootstrap", flush=True)
        rows += await bootstrap(h, actual, tokens, messages)
        if after_bootstrap is not None:
            rows += await after_bootstrap(h, tenant, quick)
        print("workload 5: repair", flush=True)
        rows += await repair(h, actual, tenant, tokens)
        print("workload 4: catch-up", flush=True)
        rows += await catch_up(h, actual, tenant, tokens, messages, quick)
        print("workload 7: dashboard", flush=True)
        rows += await dashboard(h, tokens, quick)
    print("workload 6: summary overhead", flush=True)
    rows += summary_overhead([10_000, 100_000] if quick else [10_000, 100_000, 1_000_000])
    return rows
