"""GET /debug/merkle and POST /debug/merkle/compare (admin only, own tenant only).

GET returns the server's trie in the reference's JSON form, optionally a subtree (`path`)
and pruned (`prune=n`) or cut at a depth (`depth`). POST takes a replica's trie (reference
JSON form, e.g. exported from a client) and returns every divergent range with the
server's messages in them (bounded), so an engineer can see exactly where two replicas
differ."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from crdt import merkle
from crdt.merkle import timestamp_key
from crdt.timestamp import iso_millis

from .. import storage
from ..api.models import MerkleCompareIn
from ..api.registry import operation
from ..app import POOL, json_response, principal
from ..errors import bad_request, invalid
from .sync import read_json

MAX_COMPARE_MESSAGES = 1000


class MerkleQuery(BaseModel):
    path: str | None = Field(default=None, pattern=r"^[012]{0,16}$")
    depth: int | None = Field(default=None, ge=0, le=16)
    prune: int | None = Field(default=None, ge=0, le=16)


def _int_param(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 16:
        raise bad_request(f"{name} must be an integer from 0 to 16")
    return int(raw)


def _cut(node: merkle.Trie, depth: int) -> merkle.Trie:
    if depth == 0:
        return {"hash": node.get("hash", 0)}
    out: merkle.Trie = {"hash": node.get("hash", 0)}
    for k in merkle.children(node):
        out[k] = _cut(node[k], depth - 1)
    return out


@operation(
    "GET",
    "/debug/merkle",
    "The tenant's merkle trie (admin)",
    "debug",
    errors=[400, 403],
    query=MerkleQuery,
)
async def get_merkle(request: web.Request) -> web.Response:
    who = principal(request, admin=True)
    path = request.query.get("path", "")
    if len(path) > 16 or any(c not in "012" for c in path):
        raise bad_request("path must be up to 16 base-3 digits")
    depth = _int_param(request, "depth", None)
    prune = _int_param(request, "prune", None)
    async with request.app[POOL].acquire() as conn:
        flat = await storage.whole_trie(conn, who.tenant_id)
    node = merkle.subtree(flat.to_json(), path) or merkle.empty()
    if prune is not None:
        node = merkle.prune(node, prune)
    if depth is not None:
        node = _cut(node, depth)
    return json_response(
        {"path": path, "count": flat.count(path), "root_hash": flat.hash(""), "trie": node}
    )


def describe(ranges: list[tuple[int, int]]) -> list[dict[str, Any]]:
    return [{"start": s, "end": e, "from": iso_millis(s), "to": iso_millis(e)} for s, e in ranges]


@operation(
    "POST",
    "/debug/merkle/compare",
    "Divergent ranges against a replica's trie (admin)",
    "debug",
    body=MerkleCompareIn,
    errors=[400, 403, 422],
)
async def compare_merkle(request: web.Request) -> web.Response:
    who = principal(request, admin=True)
    body = await read_json(request)
    trie = body.get("trie") if isinstance(body, dict) else None
    if not _is_trie(trie, 0):
        raise invalid('body must be {"trie": <trie in the reference JSON form>}')
    assert isinstance(trie, dict)
    async with request.app[POOL].acquire() as conn:
        flat = await storage.whole_trie(conn, who.tenant_id)
        ranges = merkle.diff_ranges(flat.to_json(), trie)
        paths = [_range_path(s, e) for s, e in ranges]
        records = (
            await storage.messages_in_paths(
                conn, who.tenant_id, paths, None, None, MAX_COMPARE_MESSAGES
            )
            if paths
            else []
        )
    return json_response(
        {
            "in_sync": not ranges,
            "ranges": describe(ranges),
            "server_messages": [storage.message_json(r) for r in records],
            "truncated": len(records) >= MAX_COMPARE_MESSAGES,
        }
    )


def _range_path(start: int, end: int) -> str:
    """The trie path whose range is exactly [start, end) (coalesced ranges may span
    several nodes: take their common prefix, which covers them)."""
    a, b = timestamp_key(start), timestamp_key(end - 1)
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[:i]


def _is_trie(node: Any, depth: int) -> bool:
    if not isinstance(node, dict) or depth > 17 or not isinstance(node.get("hash", 0), int):
        return False
    if any(k not in ("hash", "0", "1", "2") for k in node):
        return False
    return all(_is_trie(node[k], depth + 1) for k in merkle.children(node))
