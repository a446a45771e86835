"""A tenant's message `seq`, event ids and conflict feed positions are gap-free commit
order (issue 22, migrations 0018 and 0019): writers on separate connections, as separate
server processes or database nodes would be, commit in a random order, while a reader pages
"after the last value I saw" the way a device's pull, the relay, the events feed and the
conflicts feed do. Under tests/citus (a cluster given) the second pool enters by another
node of the cluster. With values from a global sequence (taken when a statement runs, not
when it commits) such a reader skips a value that commits after a larger one; here it must
see every row, and each tenant's values must be exactly 1..n."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import uuid

import asyncpg

from crdt.merge import Conflict, Register
from crdt.message import Message
from crdt.timestamp import Timestamp
from sync_server.events import Event
from sync_server.storage import conflicts, messages, outbox, users
from sync_server.storage.common import lock_tenant
from tests.conftest import ON_CITUS

WRITERS = 6
WRITES_EACH = 12


def stamp(millis: int, node: str) -> str:
    return str(Timestamp(millis, 0, node))


def conflict(i: int) -> Conflict:
    row = str(uuid.UUID(int=i + 1))
    return Conflict(
        "overwrote",
        "pre_orders",
        row,
        "status",
        Register("confirmed", stamp(1_700_000_000_000 + i, "a" * 16)),
        Register("pending", stamp(1_700_000_000_000 + i, "b" * 16)),
    )


async def write(pool: asyncpg.Pool, tenant: str, n: int, rng: random.Random) -> None:
    """One transaction as a write takes it (the tenant's lock first): `n` messages, `n`
    events and a conflict, then a pause before committing, so that with numbers taken
    when a statement runs, a transaction that took its numbers earlier would often commit
    later."""
    async with pool.acquire() as conn, conn.transaction():
        await lock_tenant(conn, tenant)
        node = secrets.token_hex(8)
        now = 1_700_000_000_000
        batch = [
            Message("partners", str(uuid.uuid4()), "name", f"P{k}", str(Timestamp(now, k, node)))
            for k in range(n)
        ]
        await messages.insert(conn, tenant, batch, [(None, node)] * n)
        await outbox.insert_events(
            conn,
            tenant,
            [Event("pre_order.updated", str(uuid.uuid4()), {"n": k}) for k in range(n)],
        )
        await conflicts.store(conn, tenant, None, [conflict(rng.randrange(1 << 30))])
        await asyncio.sleep(rng.random() * 0.02)


async def read_all(pool: asyncpg.Pool, tenant: str, sql: str, stop: asyncio.Event) -> list[int]:
    """Page through `sql` (values after a watermark) until the writers are done and a
    last pass finds nothing new: what a reader that trusts the order collects."""
    seen: list[int] = []
    idle_after_stop = False
    while True:
        async with pool.acquire() as conn:
            rows = await conn.fetch(sql, tenant, seen[-1] if seen else 0)
        seen.extend(r[0] for r in rows)
        if not rows:
            if idle_after_stop:
                return seen
            idle_after_stop = stop.is_set()
        await asyncio.sleep(0.001)


async def test_event_ids_and_conflict_positions_are_gap_free_commit_order(db_url: str) -> None:
    rng = random.Random(22)
    tenants = [str(uuid.uuid4()) for _ in range(2)]
    # Two pools stand for two server processes (or two Citus nodes the writes enter by).
    second = os.environ.get("RECAP_TEST_CITUS_NODE_URL") if ON_CITUS else None
    pools = [
        await asyncpg.create_pool(url, min_size=2, max_size=WRITERS)
        for url in (db_url, second or db_url)
    ]
    try:
        async with pools[0].acquire() as conn:
            for t in tenants:
                await users.create_tenant(conn, t, f"Tenant {t[:4]}")
        stop = asyncio.Event()
        readers = [
            asyncio.create_task(read_all(pools[1], t, sql, stop))
            for t in tenants
            for sql in (
                "SELECT seq FROM messages WHERE tenant_id = $1 AND seq > $2 ORDER BY seq",
                "SELECT id FROM outbox WHERE tenant_id = $1 AND id > $2 ORDER BY id",
                "SELECT seq FROM conflicts WHERE tenant_id = $1 AND seq > $2 ORDER BY seq",
            )
        ]

        async def writer(w: int) -> int:
            written = 0
            for _ in range(WRITES_EACH):
                n = rng.randint(1, 4)
                await write(pools[w % 2], tenants[w % 2], n, rng)
                written += n
            return written

        try:
            events = await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        finally:
            stop.set()
        seen = await asyncio.gather(*readers)
    finally:
        for pool in pools:
            await pool.close()

    per_tenant_events = [sum(events[w] for w in range(WRITERS) if w % 2 == i) for i in range(2)]
    per_tenant_conflicts = WRITES_EACH * WRITERS // 2
    for i in range(2):
        seqs, event_ids, positions = seen[3 * i : 3 * i + 3]
        # Everything that committed was seen by the paging reader, and the values are 1..n.
        assert seqs == list(range(1, per_tenant_events[i] + 1))
        assert event_ids == list(range(1, per_tenant_events[i] + 1))
        assert positions == list(range(1, per_tenant_conflicts + 1))


async def test_a_claim_takes_the_due_events_before_the_first_one_not_due(db_url: str) -> None:
    """The relay's claim: due events in id order, stopping before the first event that is
    leased or backing off (a later one would overtake it), with a backlog large enough
    that comparing every event with every earlier one would show."""
    tenant = str(uuid.uuid4())
    conn = await asyncpg.connect(db_url)
    try:
        await users.create_tenant(conn, tenant, "Backlog")
        events = [Event("pre_order.updated", str(uuid.uuid4()), {"n": k}) for k in range(3000)]
        await outbox.insert_events(conn, tenant, events)
        await outbox.postpone(conn, tenant, [2000], 60)  # in flight on another process
        claimed = await outbox.claim_tenant(conn, tenant, 5000, 30)
        assert sorted(r["id"] for r in claimed) == list(range(1, 2000))
        await outbox.mark_published(conn, tenant, list(range(1, 2000)))
        assert await outbox.claim_tenant(conn, tenant, 5000, 30) == []  # 2000 holds the rest
        await outbox.postpone(conn, tenant, [2000], -1)  # its lease ran out
        claimed = await outbox.claim_tenant(conn, tenant, 5000, 30)
        assert sorted(r["id"] for r in claimed) == list(range(2000, 3001))
    finally:
        await conn.close()
