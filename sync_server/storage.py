"""The storage layer: every SQL statement the sync service runs, behind plain functions.

Writes for a tenant are serialized by a transaction-scoped advisory lock, which makes the
read-merge-write of registers and the merkle XOR race-free and makes arrival order (`seq`)
equal commit order within a tenant (bootstrap relies on that). Every step is set-wise: a
batch costs a fixed number of statements (one insert, one read and one upsert per dataset
touched, one merkle upsert), not one round trip per message.

Identifiers interpolated into SQL come only from `crdt.schema.DATASETS`, never from input.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from crdt.merge import Conflict, Register, merge_batch
from crdt.merkle import FlatTrie, key_range
from crdt.message import Message, Scalar
from crdt.schema import DATASETS
from crdt.timestamp import min_timestamp_at

from .events import derive_events

NOTIFY_CHANNEL = "recap_changes"
Conn = asyncpg.Connection | PoolConnectionProxy  # a connection, or one borrowed from the pool


@dataclass
class ApplyOutcome:
    inserted: list[Message] = field(default_factory=list)
    applied: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    max_seq: int | None = None
    events: int = 0


def _select_rows_sql(dataset: str) -> str:
    cols = ", ".join(f"{c}, {c}_ts" for c in DATASETS[dataset])
    return (
        f"SELECT id::text AS id, {cols} FROM {dataset} "  # noqa: S608
        "WHERE tenant_id = $1 AND id = ANY($2::uuid[])"
    )


def _upsert_rows_sql(dataset: str) -> str:
    """One statement per dataset: every changed row written once, each column guarded by
    its own LWW check (a column the batch did not change arrives with a null timestamp and
    keeps its value)."""
    columns = list(DATASETS[dataset])
    names = ", ".join(f"{c}, {c}_ts" for c in columns)
    arrays = ", ".join(f"${2 + 2 * i}::text[], ${3 + 2 * i}::text[]" for i in range(len(columns)))
    aliases = ", ".join(f"v_{c}, t_{c}" for c in columns)
    select = ", ".join(f"u.v_{c}::{DATASETS[dataset][c].sql}, u.t_{c}" for c in columns)
    n = 2 + 2 * len(columns)
    updates = ", ".join(
        f"{c} = CASE WHEN {win(c)} THEN EXCLUDED.{c} ELSE t.{c} END, "
        f"{c}_ts = CASE WHEN {win(c)} THEN EXCLUDED.{c}_ts ELSE t.{c}_ts END"
        for c in columns
    )
    return (
        f"INSERT INTO {dataset} AS t (tenant_id, id, {names}) "  # noqa: S608
        f"SELECT $1, u.id, {select} FROM unnest(${n}::uuid[], {arrays}) "
        f"AS u(id, {aliases}) ON CONFLICT (tenant_id, id) DO UPDATE SET {updates}"
    )


def win(column: str) -> str:
    return (
        f"EXCLUDED.{column}_ts IS NOT NULL AND "
        f"(t.{column}_ts IS NULL OR t.{column}_ts < EXCLUDED.{column}_ts)"
    )


SELECT_ROWS = {ds: _select_rows_sql(ds) for ds in DATASETS}
UPSERT_ROWS = {ds: _upsert_rows_sql(ds) for ds in DATASETS}

INSERT_MESSAGES = """
INSERT INTO messages (tenant_id, timestamp, dataset, row_id, col, value, user_id, origin)
SELECT $1, u.ts, u.ds, u.r, u.c, u.v::jsonb, u.u, u.o
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[]) AS u(u, ts, ds, r, c, v, o)
ON CONFLICT (tenant_id, timestamp) DO NOTHING
RETURNING timestamp, seq
"""

UPSERT_MERKLE = """
INSERT INTO merkle_nodes AS m (tenant_id, path, hash, count)
SELECT $1, u.p, u.h, u.c FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(p, h, c)
ON CONFLICT (tenant_id, path) DO UPDATE SET hash = m.hash # EXCLUDED.hash,
    count = m.count + EXCLUDED.count
"""

INSERT_CONFLICTS = """
INSERT INTO conflicts (tenant_id, kind, dataset, row_id, col, winner_value, winner_ts,
    winner_user, loser_value, loser_ts, loser_user)
SELECT $1, u.k, u.ds, u.r, u.c, u.wv::jsonb, u.wts, u.wu, u.lv::jsonb, u.lts, u.lu
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::uuid[], $9::text[], $10::text[], $11::uuid[]) AS u(k, ds, r, c, wv, wts, wu, lv, lts, lu)
"""


def tenant_lock_key(tenant_id: str) -> int:
    return uuid.UUID(tenant_id).int & 0x7FFF_FFFF_FFFF_FFFF


def scalar_from_db(value: Any) -> Scalar:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value  # type: ignore[no-any-return]


def _to_text(value: Scalar) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _json_text(value: Scalar) -> str:
    return orjson.dumps(value).decode()


async def read_registers(
    conn: Conn, tenant_id: str, rows: set[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Register]]:
    by_dataset: dict[str, list[str]] = defaultdict(list)
    for dataset, row in rows:
        by_dataset[dataset].append(row)
    out: dict[tuple[str, str], dict[str, Register]] = {}
    for dataset, ids in by_dataset.items():
        for record in await conn.fetch(SELECT_ROWS[dataset], tenant_id, ids):
            regs: dict[str, Register] = {}
            for column in DATASETS[dataset]:
                ts = record[f"{column}_ts"]
                if ts is not None:
                    regs[column] = Register(scalar_from_db(record[column]), ts)
            out[(dataset, record["id"])] = regs
    return out


async def lock_tenant(conn: Conn, tenant_id: str) -> None:
    """Serialize this transaction's writes with every other writer of the tenant."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", tenant_lock_key(tenant_id))


async def apply_messages(
    conn: Conn,
    tenant_id: str,
    user_id: str | None,
    messages: list[Message],
    senders: list[tuple[str | None, str | None]] | None = None,
    origin: str | None = None,
) -> ApplyOutcome:
    """Store and apply a validated batch in one transaction (a savepoint when the caller
    already holds one, e.g. to check an If-Match under the tenant lock first). Duplicates
    (in the batch or already stored) are ignored; only newly stored messages touch the trie
    and registers. Each message records who sent it: `user_id` and the pushing node `origin`,
    or per message `senders` [(user, origin)] when a batch coalesces several pushes."""
    outcome = ApplyOutcome()
    if not messages:
        return outcome
    by_stamp = {m.timestamp: i for i, m in enumerate(messages)}
    unique = [messages[i] for i in by_stamp.values()]
    sent_by = [senders[i] if senders else (user_id, origin) for i in by_stamp.values()]
    async with conn.transaction():
        await lock_tenant(conn, tenant_id)
        returned = await conn.fetch(
            INSERT_MESSAGES,
            tenant_id,
            [user for user, _ in sent_by],
            [m.timestamp for m in unique],
            [m.dataset for m in unique],
            [m.row for m in unique],
            [m.column for m in unique],
            [_json_text(m.value) for m in unique],
            [node for _, node in sent_by],
        )
        if not returned:
            return outcome
        new = {r["timestamp"] for r in returned}
        outcome.max_seq = max(r["seq"] for r in returned)
        outcome.inserted = [m for m in unique if m.timestamp in new]

        deltas = FlatTrie()
        deltas.insert_many(m.timestamp for m in outcome.inserted)
        paths = list(deltas.nodes)
        await conn.execute(
            UPSERT_MERKLE,
            tenant_id,
            paths,
            [deltas.nodes[p][0] for p in paths],
            [deltas.nodes[p][1] for p in paths],
        )

        rows = {(m.dataset, m.row) for m in outcome.inserted}
        current = await read_registers(conn, tenant_id, rows)
        merged = merge_batch(current, outcome.inserted)
        outcome.applied = len(merged.applied)
        outcome.conflicts = merged.conflicts
        await _write_registers(conn, tenant_id, merged.changed)
        if merged.conflicts:
            await _store_conflicts(conn, tenant_id, user_id, merged.conflicts)
        events = derive_events(current, merged.changed)
        if events:
            await conn.execute(
                """INSERT INTO outbox (tenant_id, event_type, aggregate_id, payload)
                   SELECT $1, u.t, u.a, u.p::jsonb
                   FROM unnest($2::text[], $3::uuid[], $4::text[]) AS u(t, a, p)""",
                tenant_id,
                [e.type for e in events],
                [e.aggregate_id for e in events],
                [orjson.dumps(e.payload).decode() for e in events],
            )
            outcome.events = len(events)
        await conn.execute(
            "SELECT pg_notify($1, $2)",
            NOTIFY_CHANNEL,
            orjson.dumps({"tenant": tenant_id, "seq": outcome.max_seq}).decode(),
        )
    return outcome


async def _write_registers(
    conn: Conn, tenant_id: str, changed: dict[tuple[str, str, str], Register]
) -> None:
    by_row: dict[str, dict[str, dict[str, Register]]] = defaultdict(dict)
    for (dataset, row, column), reg in changed.items():
        by_row[dataset].setdefault(row, {})[column] = reg
    for dataset, rows in sorted(by_row.items()):
        ids = list(rows)
        arrays: list[list[str | None]] = []
        for column in DATASETS[dataset]:
            regs = [rows[row].get(column) for row in ids]
            arrays.append([_to_text(r.value) if r else None for r in regs])
            arrays.append([r.timestamp if r else None for r in regs])
        await conn.execute(UPSERT_ROWS[dataset], tenant_id, *arrays, ids)


async def _store_conflicts(
    conn: Conn, tenant_id: str, pusher: str | None, conflicts: list[Conflict]
) -> None:
    nodes = {c.winner.node for c in conflicts} | {c.loser.node for c in conflicts}
    owners = {
        r["node"]: str(r["user_id"])
        for r in await conn.fetch(
            "SELECT node, user_id FROM nodes WHERE tenant_id = $1 AND node = ANY($2::text[])",
            tenant_id,
            list(nodes),
        )
    }

    # A node no device registered is the server's own (REST writes, shared by every REST
    # caller): its messages are attributed to the user who made them, as the log records.
    unowned = [
        side.timestamp for c in conflicts for side in (c.winner, c.loser) if side.node not in owners
    ]
    senders = (
        {
            r["timestamp"]: str(r["user_id"])
            for r in await conn.fetch(
                "SELECT timestamp, user_id FROM messages WHERE tenant_id = $1 "
                "AND timestamp = ANY($2::text[]) AND user_id IS NOT NULL",
                tenant_id,
                unowned,
            )
        }
        if unowned
        else {}
    )

    def owner(side: Register) -> str | None:
        return owners.get(side.node) or senders.get(side.timestamp, pusher)

    await conn.execute(
        INSERT_CONFLICTS,
        tenant_id,
        [c.kind for c in conflicts],
        [c.dataset for c in conflicts],
        [c.row for c in conflicts],
        [c.column for c in conflicts],
        [_json_text(c.winner.value) for c in conflicts],
        [c.winner.timestamp for c in conflicts],
        [owner(c.winner) for c in conflicts],
        [_json_text(c.loser.value) for c in conflicts],
        [c.loser.timestamp for c in conflicts],
        [owner(c.loser) for c in conflicts],
    )


async def register_node(conn: Conn, tenant_id: str, node: str, user_id: str) -> bool:
    """Record that `node` is this user's device; False if another user already owns it."""
    owner = await conn.fetchval(
        """INSERT INTO nodes (tenant_id, node, user_id) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, node) DO UPDATE SET last_seen = now()
           RETURNING user_id""",
        tenant_id,
        node,
        user_id,
    )
    return str(owner) == user_id


async def merkle_nodes(conn: Conn, tenant_id: str, paths: list[str]) -> dict[str, tuple[int, int]]:
    records = await conn.fetch(
        "SELECT path, hash, count FROM merkle_nodes "
        "WHERE tenant_id = $1 AND path = ANY($2::text[])",
        tenant_id,
        paths,
    )
    return {r["path"]: (r["hash"], r["count"]) for r in records if r["count"] > 0}


async def whole_trie(conn: Conn, tenant_id: str) -> FlatTrie:
    trie = FlatTrie()
    for r in await conn.fetch(
        "SELECT path, hash, count FROM merkle_nodes WHERE tenant_id = $1 AND count > 0", tenant_id
    ):
        trie.nodes[r["path"]] = [r["hash"], r["count"]]
    return trie


async def whole_trie_json(conn: Conn, tenant_id: str) -> bytes:
    """The tenant's trie as the JSON array `[[path, hash, count], ...]`, built by PostgreSQL:
    at 1M messages that is 1.7M nodes, and building a Python object per node (then encoding
    it) cost the snapshot's last page seconds of server CPU. Paths are base-3 digits, so
    they need no escaping."""
    text: str = await conn.fetchval(
        """SELECT '[' || coalesce(string_agg('["' || path || '",' || hash || ',' || count || ']',
                                          ','), '') || ']'
           FROM merkle_nodes WHERE tenant_id = $1 AND count > 0""",
        tenant_id,
    )
    return text.encode()


def path_bounds(paths: list[str]) -> tuple[list[str], list[str]]:
    lows, highs = [], []
    for path in paths:
        start, end = key_range(path)
        lows.append(min_timestamp_at(start))
        highs.append(min_timestamp_at(end))
    return lows, highs


async def messages_in_paths(
    conn: Conn,
    tenant_id: str,
    paths: list[str],
    after: str | None,
    exclude_node: str | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Messages inside the ranges of `paths` (disjoint), in timestamp order, after a cursor.

    Messages that `exclude_node` pushed itself are left out: it holds them. (Not those
    merely stamped with its node id: anyone could push such a message, and the device would
    then never receive it.)
    """
    lows, highs = path_bounds(paths)
    records: list[asyncpg.Record] = await conn.fetch(
        """SELECT m.timestamp, m.dataset, m.row_id, m.col, m.value, m.seq,
                  octet_length(m.value::text) AS size
           FROM unnest($2::text[], $3::text[]) AS r(lo, hi)
           CROSS JOIN LATERAL (
               SELECT timestamp, dataset, row_id, col, value, seq FROM messages
               WHERE tenant_id = $1 AND timestamp >= r.lo AND timestamp < r.hi
                 AND timestamp > $4 AND origin IS DISTINCT FROM $5
               ORDER BY timestamp LIMIT $6
           ) AS m
           ORDER BY m.timestamp LIMIT $6""",
        tenant_id,
        lows,
        highs,
        after or "",
        exclude_node or "",
        limit,
    )
    return records


def message_json(record: asyncpg.Record) -> dict[str, Any]:
    return {
        "dataset": record["dataset"],
        "row": record["row_id"],
        "column": record["col"],
        "value": record["value"],
        "timestamp": record["timestamp"],
        "seq": record["seq"],
    }


async def conflicts_for_user(
    conn: Conn, tenant_id: str, user_id: str, after_id: int, limit: int = 200
) -> tuple[list[dict[str, Any]], int]:
    """This user's conflicts after `after_id`, and the tenant's newest conflict id, in one
    statement (one snapshot). Within a tenant, conflict ids commit in order (writes hold the
    tenant lock), so every conflict committed later has a larger id: a client that saw
    everything up to that id may start its next query after it. Without that, a rep who is
    never party to a conflict would rescan them all on every sync."""
    records = await conn.fetch(
        """WITH latest AS (
               SELECT coalesce(max(id), 0) AS id FROM conflicts WHERE tenant_id = $1)
           SELECT l.id AS latest, c.* FROM latest l LEFT JOIN LATERAL (
               SELECT c.id, c.kind, c.dataset, c.row_id, c.col, c.winner_value, c.winner_ts,
                      c.winner_user, wu.display_name AS winner_name, c.loser_value,
                      c.loser_ts, c.loser_user, lu.display_name AS loser_name, c.detected_at
               FROM conflicts c
               LEFT JOIN users wu ON wu.id = c.winner_user
               LEFT JOIN users lu ON lu.id = c.loser_user
               WHERE c.tenant_id = $1 AND c.id > $3 AND c.id <= l.id
                 AND (c.winner_user = $2 OR c.loser_user = $2)
               ORDER BY c.id LIMIT $4) c ON true
           ORDER BY c.id""",
        tenant_id,
        user_id,
        after_id,
        limit,
    )
    latest = int(records[0]["latest"]) if records else 0
    return [
        {
            "id": r["id"],
            "kind": r["kind"],
            "dataset": r["dataset"],
            "row": r["row_id"],
            "column": r["col"],
            "winner": {
                "value": r["winner_value"],
                "timestamp": r["winner_ts"],
                "user_id": str(r["winner_user"]) if r["winner_user"] else None,
                "user_name": r["winner_name"],
            },
            "loser": {
                "value": r["loser_value"],
                "timestamp": r["loser_ts"],
                "user_id": str(r["loser_user"]) if r["loser_user"] else None,
                "user_name": r["loser_name"],
            },
            "detected_at": r["detected_at"].isoformat(),
            "yours": "loser" if str(r["loser_user"]) == user_id else "winner",
        }
        for r in records
        if r["id"] is not None
    ], latest
