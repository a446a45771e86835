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
from ..app import POOL, SETTINGS, json_response, principal
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


@operation("GET", "/snapshot", "Bootstrap a new device: current state in pages", "sync",
           errors=[400], query=SnapshotQuery)
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
            cols = ", ".join(f"{c}, {c}_ts" for c in columns)
            records = await conn.fetch(
                f"SELECT id::text AS id, {cols} FROM {dataset} "  # noqa: S608
                "WHERE tenant_id = $1 AND ($2 = '' OR id > $2::uuid) ORDER BY id LIMIT $3",
                tenant,
                state["after"],
                limit,
            )
            rows = [
                [
                    r["id"],
                    *[x for c in columns for x in (storage.scalar_from_db(r[c]), r[f"{c}_ts"])],
                ]
                for r in records
            ]
            if len(records) == limit:
                nxt = {**state, "after": records[-1]["id"]}
            else:
                nxt = {**state, "ds": state["ds"] + 1, "after": ""}
            body: dict[str, Any] = {
                "dataset": dataset,
                "columns": columns,
                "rows": rows,
                "cursor": _cursor(nxt),
                "done": False,
            }
            if total is not None:
                body["total_rows"] = total
            return json_response(body)
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
        head = orjson.dumps({"done": True, "seq": seq, "messages": messages})
        return web.Response(
            body=head[:-1] + b',"trie":' + trie + b"}", content_type="application/json"
        )
