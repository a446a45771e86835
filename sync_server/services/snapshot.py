"""Bootstrap a new device from current state instead of the whole history.

Pages of rows (every field's winning value and timestamp, tombstoned rows included, since
late messages need registers to lose to), dataset by dataset, keyed by id. Pages are read at
different moments, so the last page closes the gap: in one repeatable-read transaction it
returns the trie at `seq`, plus every message that arrived since the first page
(`start_seq < seq`); applying those to the rows by LWW gives exactly the state the trie
describes. Within a tenant, seq order is commit order (writes hold the tenant lock).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import asyncpg
import orjson

from crdt.schema import DATASETS

from ..errors import BadRequest
from ..storage import messages, snapshot

DATASET_ORDER = list(DATASETS)


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(text: str) -> dict[str, Any]:
    try:
        state = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not (
            isinstance(state, dict)
            and isinstance(state.get("start"), int)
            and isinstance(state.get("ds"), int)
            and 0 <= state["ds"] <= len(DATASET_ORDER)
            and 0 <= state["start"] < 2**63
            and isinstance(state.get("after"), str)
            and (state["after"] == "" or _is_uuid(state["after"]))
        ):
            raise ValueError
        return state
    except Exception as exc:
        raise BadRequest("malformed snapshot cursor") from exc


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


async def page(
    pool: asyncpg.Pool, tenant_id: str, cursor: str | None, limit: int
) -> tuple[dict[str, Any], str, bytes]:
    """The page a cursor names (None: the first): its JSON body without one key, that key,
    and the key's value as JSON text made by PostgreSQL (the rows, or the closing trie)."""
    async with pool.acquire() as conn:
        if cursor is None:
            start = await messages.max_seq(conn, tenant_id)
            total: int | None = await snapshot.count_rows(conn, tenant_id)
            state: dict[str, Any] = {"start": start, "ds": 0, "after": ""}
        else:
            state = decode_cursor(cursor)
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
                "cursor": encode_cursor(following),
                "dataset_done": n < limit,
                "done": False,
            }
            if total is not None:
                body["total_rows"] = total
            return body, "rows", rows
        seq, late, trie = await snapshot.closing(conn, tenant_id, state["start"])
    closing = {"done": True, "seq": seq, "messages": [messages.message_json(r) for r in late]}
    return closing, "trie", trie
