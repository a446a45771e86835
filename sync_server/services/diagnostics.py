"""The merkle debug views: the tenant's trie in the reference JSON form (whole, a subtree,
pruned or cut at a depth), and where a replica's trie diverges from it, with the server's
messages in those ranges described in human terms (`sync_server.diagnose`), for the app's
diagnostics page and the `diff` CLI (DESIGN.md, "Diagnostics")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from crdt import merkle
from crdt.message import Message
from crdt.timestamp import iso_millis

from .. import diagnose
from ..storage import diagnostics, messages, registers
from ..storage import merkle as tries
from ..storage.common import Conn

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


async def trie_view(
    pool: asyncpg.Pool, tenant_id: str, path: str, depth: int | None, prune: int | None
) -> dict[str, Any]:
    """The trie at `path`: cut at `depth` (read only down to it: the diagnostics page asks
    for the top levels of tries of any size), else whole, optionally pruned."""
    async with pool.acquire() as conn:
        if depth is not None and prune is None:
            flat = await tries.subtree(conn, tenant_id, path, depth)
        else:
            flat = await tries.whole(conn, tenant_id)
    node = _nested(flat, path)
    if prune is not None:
        node = merkle.prune(node, prune)
    if depth is not None:
        node = cut(node, depth)
    return {"path": path, "count": flat.count(path), "root_hash": flat.hash(""), "trie": node}


def _nested(flat: merkle.FlatTrie, path: str) -> merkle.Trie:
    return merkle.subtree(flat.to_json(), path) or merkle.empty()


async def server_nodes_against(conn: Conn, tenant_id: str, sent: merkle.Trie) -> merkle.FlatTrie:
    """The server's nodes that `merkle.diff_ranges` reads when walking the server's trie
    against `sent`: the root and, under every node both hold with different hashes, its
    children; read a level at a time (at most 17 queries, each bounded by the sent trie),
    so a compare costs what the replica sends, not the tenant's whole trie."""
    found = await tries.nodes(conn, tenant_id, ["", *merkle.CHILD_KEYS])
    frontier: list[tuple[str, merkle.Trie]] = [("", sent)]
    while frontier:
        deeper = []
        for path, node in frontier:
            own = found.get(path)
            if own is None or own[0] == node.get("hash", 0):
                continue
            for key in merkle.children(node):
                theirs = found.get(path + key)
                if theirs is not None and theirs[0] != node[key].get("hash", 0):
                    deeper.append((path + key, node[key]))
        if deeper:
            wanted = [p + k for p, _ in deeper for k in merkle.CHILD_KEYS]
            found.update(await tries.nodes(conn, tenant_id, wanted))
        frontier = deeper
    flat = merkle.FlatTrie()
    flat.nodes = {p: [h, c] for p, (h, c) in found.items()}
    return flat


async def describe_messages(
    conn: Conn,
    tenant_id: str,
    found: list[Message],
    who: Mapping[str, str],
    fallback: diagnose.Rows | None = None,
) -> list[dict[str, Any]]:
    """`found` in human terms, from the tenant's current rows (fetched a level at a time:
    a line, then its order and product, then the order's partner), with `fallback` rows
    for those the server does not have; `who` names senders by timestamp or by node."""
    rows: diagnose.Rows = {}
    asked: set[diagnose.RowKey] = set()
    for _ in range(3):
        wanted = diagnose.wanted_rows(found, rows) - asked
        if not wanted:
            break
        asked |= wanted
        for key, regs in (await registers.read(conn, tenant_id, wanted)).items():
            rows[key] = {column: reg.value for column, reg in regs.items()}
    for key, values in (fallback or {}).items():
        rows.setdefault(key, values)
    return [diagnose.describe(m, rows, who.get(m.timestamp) or who.get(m.node)) for m in found]


async def compare(
    pool: asyncpg.Pool,
    tenant_id: str,
    trie: merkle.Trie,
    given: list[Message] | None = None,
    nodes: list[str] | None = None,
) -> dict[str, Any]:
    """Where a replica's trie diverges from the server's: the ranges; the server's messages
    in them, as stored and described; which of them the replica lacks (matched against its
    trie's hashes and the messages it sent, `given`, which are described too; those the
    server does not hold are `server_lacks`); and the names behind `nodes`."""
    given = given or []
    async with pool.acquire() as conn:
        flat = await server_nodes_against(conn, tenant_id, trie)
        ranges = merkle.diff_ranges(flat.to_json(), trie)
        paths = [p for s, e in ranges for p in diagnose.cover(s, e)]
        found = (
            await messages.in_paths(conn, tenant_id, paths, None, MAX_COMPARE_MESSAGES)
            if paths
            else []
        )
        stored = [messages.message_json(r) for r in found]
        mine = [Message.from_json({k: v for k, v in m.items() if k != "seq"}) for m in stored]
        names = await diagnostics.node_names(
            conn, tenant_id, sorted({*(nodes or []), *(m.node for m in given)})
        )
        senders = await diagnostics.senders(conn, tenant_id, [m.timestamp for m in mine])
        server_described = await describe_messages(conn, tenant_id, mine, senders)
        described = await describe_messages(
            conn, tenant_id, given, names, diagnose.rows_from_messages(given)
        )
    on_server = {m.timestamp for m in mine}
    named = {m.timestamp for m in given}
    truncated = len(found) >= MAX_COMPARE_MESSAGES
    # Past the last listed minute of a cut list, nothing can be matched.
    compared = diagnose.clip(ranges, diagnose.listed_until(on_server, truncated))
    held = diagnose.held_by_trie(trie, named, on_server - named, compared)
    return {
        "in_sync": not ranges,
        "ranges": [diagnose.range_json(s, e) for s, e in ranges],
        "server_messages": stored,
        "truncated": truncated,
        "root_hash": flat.hash(""),
        "count": flat.count(""),
        "server_described": server_described,
        "replica_lacks": sorted(
            ts for ts in on_server - named - held.held if diagnose.inside(ts, compared)
        ),
        "described": described,
        "server_lacks": sorted(
            m.timestamp
            for m in given
            if m.timestamp not in on_server and diagnose.inside(m.timestamp, compared)
        ),
        "unresolved": [
            {"from": iso_millis(m), "to": iso_millis(m + merkle.MINUTE_MS)} for m in held.unresolved
        ],
        "node_names": names,
    }
