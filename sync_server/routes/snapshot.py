"""GET /snapshot: bootstrap a new device from current state (see services/snapshot.py)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, Field

from ..httpio import caller, compressed, parse_query
from ..keys import POOL, SETTINGS
from ..models import SnapshotPage
from ..operations import operation
from ..protocol import PROTOCOL_HEADER, check_version
from ..services import snapshot


class SnapshotQuery(BaseModel):
    cursor: str | None = Field(default=None, max_length=1000)


def _json_with(body: dict[str, Any], key: str, raw: bytes) -> web.Response:
    """`body` as JSON with `key` set to `raw`, JSON text made elsewhere (by PostgreSQL)."""
    head = orjson.dumps(body)
    return web.Response(
        body=head[:-1] + b',"' + key.encode() + b'":' + raw + b"}",
        content_type="application/json",
    )


@operation(
    "GET",
    "/snapshot",
    "Bootstrap a new device: current state in pages",
    "sync",
    errors=[400, 422],
    query=SnapshotQuery,
    response=SnapshotPage,
)
async def get_snapshot(request: web.Request) -> web.Response:
    check_version(request.headers.get(PROTOCOL_HEADER))
    settings = request.app[SETTINGS]
    body, key, raw = await snapshot.page(
        request.app[POOL],
        caller(request).tenant_id,
        parse_query(request, SnapshotQuery).cursor,
        settings.snapshot_page_rows,
        settings.page_messages,
        settings.token_secret,
    )
    return compressed(request, _json_with(body, key, raw))
