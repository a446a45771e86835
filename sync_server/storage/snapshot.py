"""Reads of a new device's bootstrap: the rows, page by page, then in one consistent
snapshot the trie and the messages that arrived while the pages were read."""

from __future__ import annotations

import asyncpg

from crdt.schema import DATASETS

from . import merkle, messages
from .common import Conn


async def count_rows(conn: Conn, tenant_id: str) -> int:
    """Every row of every dataset (deleted ones too): the total a progress bar counts."""
    total = 0
    for dataset in DATASETS:
        total += await conn.fetchval(
            f"SELECT count(*) FROM {dataset} WHERE tenant_id = $1",  # noqa: S608
            tenant_id,
        )
    return total


def _page_query(dataset: str) -> str:
    """One page of rows as JSON text, `[id, v1, ts1, v2, ts2, ...]` each, built by PostgreSQL
    (a Python object per field made the server's CPU half of a 1M-message bootstrap), plus
    the page's size and last id for the cursor. Dates and uuids come out as JSON strings,
    numbers as numbers, as the messages carry them."""
    fields = ", ".join(f"{c}, {c}_ts" for c in DATASETS[dataset])
    return f"""
        WITH page AS (
            SELECT id, {fields} FROM {dataset}
            WHERE tenant_id = $1 AND ($2 = '' OR id > $2::uuid) ORDER BY id LIMIT $3
        )
        SELECT count(*) AS n,
               (SELECT id::text FROM page ORDER BY id DESC LIMIT 1) AS last,
               '[' || coalesce(string_agg(json_build_array(id, {fields})::text, ',' ORDER BY id),
                               '') || ']' AS rows
        FROM page"""  # noqa: S608  (dataset and columns come from the schema, not the client)


PAGE_QUERIES = {dataset: _page_query(dataset) for dataset in DATASETS}


async def rows_page(
    conn: Conn, tenant_id: str, dataset: str, after: str, limit: int
) -> tuple[int, str | None, bytes]:
    """Up to `limit` rows of `dataset` with ids after `after` ("" for the first page): how
    many, the last id, and the rows as JSON text."""
    page = await conn.fetchrow(PAGE_QUERIES[dataset], tenant_id, after, limit)
    assert page is not None  # an aggregate always returns one row
    return int(page["n"]), page["last"], str(page["rows"]).encode()


async def closing(
    conn: Conn, tenant_id: str, start: int, limit: int
) -> tuple[int, list[asyncpg.Record], bytes | None]:
    """In one repeatable-read snapshot: the tenant's sequence `seq` and the first `limit`
    messages with `start < seq' <= seq` (those that arrived since the first page); if that
    is all of them, the trie at `seq` as JSON text too, else None (more pages of late
    messages come first)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        seq = await messages.max_seq(conn, tenant_id)
        late = await messages.between_seq(conn, tenant_id, start, seq, limit + 1)
        if len(late) > limit:
            return seq, late[:limit], None
        trie = await merkle.whole_json(conn, tenant_id)
    return seq, late, trie
