"""The message log: every edit ever stored, keyed by its timestamp within the tenant, with
its sender (`user_id`, and `origin`, the node that pushed it) and `seq`, its arrival order:
gap-free commit order within a tenant, from the tenant's own counter under its lock."""

from __future__ import annotations

from typing import Any

import asyncpg

from crdt.merkle import key_range
from crdt.message import Message
from crdt.timestamp import min_timestamp_at

from .common import Conn, json_text

#: The new messages of a batch, numbered on from the tenant's counter in batch order, and
#: the counter moved past them, in one statement. Under the tenant lock (which also holds
#: the counter's row), so the `NOT EXISTS` sees every stored message and the numbers are
#: gap-free commit order within the tenant.
INSERT_MESSAGES = """
WITH fresh AS (
    SELECT u.*, row_number() OVER (ORDER BY u.i) AS n
    FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[]) WITH ORDINALITY AS u(u, ts, ds, r, c, v, o, i)
    WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = $1 AND m.timestamp = u.ts)
), counter AS (
    UPDATE tenant_sequences SET messages = messages + (SELECT count(*) FROM fresh)
    WHERE tenant_id = $1 AND EXISTS (SELECT 1 FROM fresh)
    RETURNING messages - (SELECT count(*) FROM fresh) AS base
)
INSERT INTO messages (tenant_id, timestamp, dataset, row_id, col, value, user_id, origin, seq)
SELECT $1, f.ts, f.ds, f.r, f.c, f.v::jsonb, f.u, f.o, c.base + f.n
FROM fresh f CROSS JOIN counter c
ON CONFLICT (tenant_id, timestamp) DO NOTHING
RETURNING timestamp, seq
"""


async def insert(
    conn: Conn,
    tenant_id: str,
    messages: list[Message],
    senders: list[tuple[str | None, str | None]],
) -> list[asyncpg.Record]:
    """Store the messages not stored yet; `(timestamp, seq)` of those that were new.
    `senders` is each message's (user, origin node)."""
    records: list[asyncpg.Record] = await conn.fetch(
        INSERT_MESSAGES,
        tenant_id,
        [user for user, _ in senders],
        [m.timestamp for m in messages],
        [m.dataset for m in messages],
        [m.row for m in messages],
        [m.column for m in messages],
        [json_text(m.value) for m in messages],
        [node for _, node in senders],
    )
    return records


async def first_reused(conn: Conn, tenant_id: str, batch: list[Message]) -> str | None:
    """The first of these timestamps (already stored) whose stored message differs from the
    one given: another dataset, row, column or value under the same identity."""
    if not batch:
        return None
    found: str | None = await conn.fetchval(
        """SELECT u.ts FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
               WITH ORDINALITY AS u(ts, ds, r, c, v, i)
           JOIN messages m ON m.tenant_id = $1 AND m.timestamp = u.ts
           WHERE (m.dataset, m.row_id, m.col) IS DISTINCT FROM (u.ds, u.r, u.c)
              OR m.value IS DISTINCT FROM u.v::jsonb
           ORDER BY u.i LIMIT 1""",
        tenant_id,
        [m.timestamp for m in batch],
        [m.dataset for m in batch],
        [m.row for m in batch],
        [m.column for m in batch],
        [json_text(m.value) for m in batch],
    )
    return found


async def max_seq(conn: Conn, tenant_id: str) -> int:
    """The tenant's latest sequence number (0 when it has no messages)."""
    value: int = await conn.fetchval(
        "SELECT coalesce(max(seq), 0) FROM messages WHERE tenant_id = $1", tenant_id
    )
    return value


async def users_of(conn: Conn, tenant_id: str, timestamps: list[str]) -> dict[str, str]:
    """The user who sent each of these messages (those sent by a known user)."""
    if not timestamps:
        return {}
    return {
        r["timestamp"]: str(r["user_id"])
        for r in await conn.fetch(
            "SELECT timestamp, user_id FROM messages WHERE tenant_id = $1 "
            "AND timestamp = ANY($2::text[]) AND user_id IS NOT NULL",
            tenant_id,
            timestamps,
        )
    }


def path_bounds(paths: list[str]) -> tuple[list[str], list[str]]:
    """Each trie path's range as [low, high) timestamp strings."""
    lows, highs = [], []
    for path in paths:
        start, end = key_range(path)
        lows.append(min_timestamp_at(start))
        highs.append(min_timestamp_at(end))
    return lows, highs


async def in_paths(
    conn: Conn, tenant_id: str, paths: list[str], after: str | None, limit: int
) -> list[asyncpg.Record]:
    """Messages inside the ranges of `paths` (disjoint), in timestamp order, after a cursor
    timestamp, with each value's size in bytes."""
    lows, highs = path_bounds(paths)
    records: list[asyncpg.Record] = await conn.fetch(
        """SELECT m.timestamp, m.dataset, m.row_id, m.col, m.value, m.seq,
                  octet_length(m.value::text) AS size
           FROM unnest($2::text[], $3::text[]) AS r(lo, hi)
           CROSS JOIN LATERAL (
               SELECT timestamp, dataset, row_id, col, value, seq FROM messages
               WHERE tenant_id = $1 AND timestamp >= r.lo AND timestamp < r.hi
                 AND timestamp > $4
               ORDER BY timestamp LIMIT $5
           ) AS m
           ORDER BY m.timestamp LIMIT $5""",
        tenant_id,
        lows,
        highs,
        after or "",
        limit,
    )
    return records


#: A sync's pull in one statement, so one snapshot without a transaction: the tenant's
#: head (its latest seq; in a snapshot every message up to it is visible, DESIGN.md,
#: "Incremental pull"), its root `(hash, count)` and the messages after the replica's
#: watermark. One row with null message columns when nothing follows the watermark.
PULL_WITH_ROOT = """
WITH head AS (
    SELECT coalesce(max(seq), 0) AS seq FROM messages WHERE tenant_id = $1
), root AS (
    SELECT hash, count FROM merkle_nodes WHERE tenant_id = $1 AND path = ''
)
SELECT (SELECT seq FROM head) AS head, (SELECT hash FROM root) AS root_hash,
       (SELECT count FROM root) AS root_count,
       p.timestamp, p.dataset, p.row_id, p.col, p.value, p.seq, p.size
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT timestamp, dataset, row_id, col, value, seq, octet_length(value::text) AS size
    FROM messages WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
) AS p ON true
ORDER BY p.seq
"""


async def pull_with_root(
    conn: Conn, tenant_id: str, after: int, limit: int
) -> tuple[int, tuple[int, int], list[asyncpg.Record]]:
    """The head, the root `(hash, count)` and the messages with `seq > after` (at most
    `limit`, in seq order, each with its value's size), all from one snapshot: equal
    roots then mean the replica holds every message up to the head. With `limit` 0, the
    head and the root only."""
    rows: list[asyncpg.Record] = await conn.fetch(PULL_WITH_ROOT, tenant_id, after, limit)
    first = rows[0]
    root = (int(first["root_hash"] or 0), int(first["root_count"] or 0))
    return int(first["head"]), root, [r for r in rows if r["seq"] is not None]


async def between_seq(
    conn: Conn, tenant_id: str, after: int, upto: int, limit: int | None = None
) -> list[asyncpg.Record]:
    """Messages with `after < seq <= upto`, in seq order (the first `limit` of them)."""
    records: list[asyncpg.Record] = await conn.fetch(
        """SELECT timestamp, dataset, row_id, col, value, seq FROM messages
           WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4""",
        tenant_id,
        after,
        upto,
        limit,
    )
    return records


async def rows_changed(
    conn: Conn, tenant_id: str, after: int, upto: int, datasets: list[str], not_by: str
) -> list[tuple[str, str]]:
    """(dataset, row) of every row of `datasets` that messages with `after < seq <= upto`
    touched, except those pushed by the node `not_by`."""
    return [
        (r["dataset"], r["row_id"])
        for r in await conn.fetch(
            """SELECT DISTINCT dataset, row_id FROM messages
               WHERE tenant_id = $1 AND seq > $2 AND seq <= $3
                 AND dataset = ANY($4::text[]) AND origin IS DISTINCT FROM $5""",
            tenant_id,
            after,
            upto,
            datasets,
            not_by,
        )
    ]


def message_json(record: asyncpg.Record) -> dict[str, Any]:
    """A stored message as the wire carries it (with its `seq`)."""
    return {
        "dataset": record["dataset"],
        "row": record["row_id"],
        "column": record["col"],
        "value": record["value"],
        "timestamp": record["timestamp"],
        "seq": record["seq"],
    }
