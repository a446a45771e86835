"""GET /snapshot: bootstrap a new device from current state instead of the whole history.

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

import orjson
from aiohttp import web
from pydantic import BaseModel, Field

from crdt.schema import DATASETS

from .. import storage
from ..api.registry import operation
from ..app import POOL, SETTINGS, principal
from ..errors import bad_request

DATASET_ORDER = list(DATASETS)


class SnapshotQuery(BaseModel):
    cursor: str | None = Field(default=None, max_length=1000)


def _cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def _read_cursor(text: str) -> dict[str, Any]:
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
        raise bad_request("malformed snapshot cursor") from exc


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


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


def _json_with(body: dict[str, Any], key: str, raw: bytes) -> web.Response:
    """`body` as JSON with `key` set to `raw`, JSON text made elsewhere (by PostgreSQL)."""
    head = orjson.dumps(body)
    return web.Response(
        body=head[:-1] + b',"' + key.encode() + b'":' + raw + b"}", content_type="application/json"
    )


@operation(
    "GET",
    "/snapshot",
    "Bootstrap a new device: current state in pages",
    "sync",
    errors=[400],
    query=SnapshotQuery,
)
async def snapshot(request: web.Request) -> web.Response:
    who = principal(request)
    limit = request.app[SETTINGS].snapshot_page_rows
    tenant = who.tenant_id
    async with request.app[POOL].acquire() as conn:
        text = request.query.get("cursor")
        if text is None:
            start = await conn.fetchval(
                "SELECT coalesce(max(seq), 0) FROM messages WHERE tenant_id = $1", tenant
            )
            total = 0
            for ds in DATASET_ORDER:
                total += await conn.fetchval(
                    f"SELECT count(*) FROM {ds} WHERE tenant_id = $1",  # noqa: S608
                    tenant,
                )
            state: dict[str, Any] = {"start": start, "ds": 0, "after": ""}
        else:
            state = _read_cursor(text)
            total = None
        if state["ds"] < len(DATASET_ORDER):
            dataset = DATASET_ORDER[state["ds"]]
            columns = list(DATASETS[dataset])
            page = await conn.fetchrow(_page_query(dataset), tenant, state["after"], limit)
            assert page is not None  # an aggregate always returns one row
            if page["n"] == limit:
                nxt = {**state, "after": page["last"]}
            else:
                nxt = {**state, "ds": state["ds"] + 1, "after": ""}
            body: dict[str, Any] = {
                "dataset": dataset,
                "columns": columns,
                "cursor": _cursor(nxt),
                "dataset_done": page["n"] < limit,
                "done": False,
            }
            if total is not None:
                body["total_rows"] = total
            return _json_with(body, "rows", page["rows"].encode())
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            seq = await conn.fetchval(
                "SELECT coalesce(max(seq), 0) FROM messages WHERE tenant_id = $1", tenant
            )
            late = await conn.fetch(
                """SELECT timestamp, dataset, row_id, col, value, seq FROM messages
                   WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq""",
                tenant,
                state["start"],
                seq,
            )
            trie = await storage.whole_trie_json(conn, tenant)
        messages = [storage.message_json(r) for r in late]
        return _json_with({"done": True, "seq": seq, "messages": messages}, "trie", trie)
