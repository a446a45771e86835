"""Bootstrap a new device from current state instead of the whole history.

Pages of rows (every field's winning value and timestamp, tombstoned rows included, since
late messages need registers to lose to), dataset by dataset, keyed by id. Pages are read at
different moments, so the closing pages close the gap: they return every message that
arrived since the first page (`start_seq < seq`), at most a page of them at a time, and the
last one, in one repeatable-read transaction, the rest of them and the trie at `seq`;
applying those to the rows by LWW gives exactly the state the trie describes. Within a
tenant, seq order is commit order (writes hold the tenant lock).

The cursor is sealed (HMAC, bound to the tenant): a client cannot forge a `start` of 0 and
get the tenant's whole history in one response. Every response is at most a page of rows or
a page of messages, plus the trie.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson

from crdt.schema import DATASETS

from ..auth import seal, unseal
from ..errors import BadRequest
from ..storage import conflicts, messages, snapshot

DATASET_ORDER = list(DATASETS)
PURPOSE = "snapshot"


def encode_cursor(secret: str, tenant_id: str, state: dict[str, Any]) -> str:
    return seal(secret, PURPOSE, {**state, "t": tenant_id})


def decode_cursor(secret: str, tenant_id: str, text: str) -> dict[str, Any]:
    sealed = unseal(secret, PURPOSE, text)
    if sealed is None or sealed.get("t") != tenant_id:
        raise BadRequest("malformed snapshot cursor")
    start, ds, after = sealed.get("start"), sealed.get("ds"), sealed.get("after")
    if not (
        isinstance(start, int)
        and isinstance(ds, int)
        and isinstance(after, str)
        and 0 <= ds <= len(DATASET_ORDER)
        and 0 <= start < 2**63
        and (after == "" or _is_uuid(after))
    ):
        raise BadRequest("malformed snapshot cursor")
    return {"start": start, "ds": ds, "after": after}


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


async def page(
    pool: asyncpg.Pool,
    tenant_id: str,
    cursor: str | None,
    limit: int,
    late_limit: int,
    secret: str,
) -> tuple[dict[str, Any], str, bytes]:
    """The page a cursor names (None: the first): its JSON body without one key, that key,
    and the key's value as JSON text (the rows or the closing trie, made by PostgreSQL; the
    late messages of a page that precedes the closing one)."""
    async with pool.acquire() as conn:
        if cursor is None:
            start = await messages.max_seq(conn, tenant_id)
            total: int | None = await snapshot.count_rows(conn, tenant_id)
            state: dict[str, Any] = {"start": start, "ds": 0, "after": ""}
        else:
            state = decode_cursor(secret, tenant_id, cursor)
            total = None
        if state["ds"] < len(DATASET_ORDER):
            dataset = DATASET_ORDER[state["ds"]]
            n, last, rows = await snapshot.rows_page(
                conn, tenant_id, dataset, state["after"], limit
            )
            if n == limit:
                following = {**state, "after": last}
            else:
                following = {**state, "ds": state["ds"] + 1, "after": ""}
            body: dict[str, Any] = {
                "dataset": dataset,
                "columns": list(DATASETS[dataset]),
                "cursor": encode_cursor(secret, tenant_id, following),
                "dataset_done": n < limit,
                "done": False,
            }
            if total is not None:
                body["total_rows"] = total
            return body, "rows", rows
        seq, late, trie = await snapshot.closing(conn, tenant_id, state["start"], late_limit)
        # A new device's conflict feed starts here: its user's past conflicts are history.
        feed = await conflicts.latest(conn, tenant_id) if trie is not None else 0
    found = [messages.message_json(r) for r in late]
    if trie is None:  # more late messages than a page: this page, then the next
        following = {**state, "start": late[-1]["seq"]}
        ahead = {"done": False, "cursor": encode_cursor(secret, tenant_id, following)}
        return ahead, "messages", orjson.dumps(found)
    return {"done": True, "seq": seq, "conflicts_after": feed, "messages": found}, "trie", trie
