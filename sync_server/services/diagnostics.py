"""The merkle debug views: the tenant's trie in the reference JSON form (whole, a subtree,
pruned or cut at a depth), and where a replica's trie diverges from it, with the server's
messages in those ranges."""

from __future__ import annotations

from typing import Any

import asyncpg

from crdt import merkle
from crdt.merkle import timestamp_key
from crdt.timestamp import iso_millis

from ..storage import merkle as tries
from ..storage import messages

MAX_COMPARE_MESSAGES = 1000


def cut(node: merkle.Trie, depth: int) -> merkle.Trie:
    """The trie without its nodes deeper than `depth`."""
    out: merkle.Trie = {"hash": node.get("hash", 0)}
    if depth > 0:
        for k in merkle.children(node):
            out[k] = cut(node[k], depth - 1)
    return out


def is_trie(node: Any, depth: int = 0) -> bool:
    """A trie in the reference JSON form, at most 16 levels below the root."""
    if not isinstance(node, dict) or depth > 17 or not isinstance(node.get("hash", 0), int):
        return False
    if any(k not in ("hash", "0", "1", "2") for k in node):
        return False
    return all(is_trie(node[k], depth + 1) for k in merkle.children(node))


def describe(ranges: list[tuple[int, int]]) -> list[dict[str, Any]]:
    return [{"start": s, "end": e, "from": iso_millis(s), "to": iso_millis(e)} for s, e in ranges]


def range_path(start: int, end: int) -> str:
    """The trie path whose range covers [start, end) (coalesced ranges may span several
    nodes: their common prefix covers them)."""
    a, b = timestamp_key(start), timestamp_key(end - 1)
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[:i]


async def trie_view(
    pool: asyncpg.Pool, tenant_id: str, path: str, depth: int | None, prune: int | None
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        flat = await tries.whole(conn, tenant_id)
    node = merkle.subtree(flat.to_json(), path) or merkle.empty()
    if prune is not None:
        node = merkle.prune(node, prune)
    if depth is not None:
        node = cut(node, depth)
    return {"path": path, "count": flat.count(path), "root_hash": flat.hash(""), "trie": node}


async def compare(pool: asyncpg.Pool, tenant_id: str, trie: merkle.Trie) -> dict[str, Any]:
    async with pool.acquire() as conn:
        flat = await tries.whole(conn, tenant_id)
        ranges = merkle.diff_ranges(flat.to_json(), trie)
        paths = [range_path(s, e) for s, e in ranges]
        found = (
            await messages.in_paths(conn, tenant_id, paths, None, MAX_COMPARE_MESSAGES)
            if paths
            else []
        )
    return {
        "in_sync": not ranges,
        "ranges": describe(ranges),
        "server_messages": [messages.message_json(r) for r in found],
        "truncated": len(found) >= MAX_COMPARE_MESSAGES,
    }
