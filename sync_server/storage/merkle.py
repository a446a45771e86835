"""The tenant's merkle trie as rows: `path -> (hash, count)` (`crdt.merkle.FlatTrie`), so a
batch updates only the paths its messages touch."""

from __future__ import annotations

from crdt.merkle import FlatTrie

from .common import Conn

UPSERT_MERKLE = """
INSERT INTO merkle_nodes AS m (tenant_id, path, hash, count)
SELECT $1, u.p, u.h, u.c FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(p, h, c)
ON CONFLICT (tenant_id, path) DO UPDATE SET hash = m.hash # EXCLUDED.hash,
    count = m.count + EXCLUDED.count
"""


async def add(conn: Conn, tenant_id: str, deltas: FlatTrie) -> None:
    """XOR the deltas' hashes into the stored nodes and add their counts."""
    paths = list(deltas.nodes)
    await conn.execute(
        UPSERT_MERKLE,
        tenant_id,
        paths,
        [deltas.nodes[p][0] for p in paths],
        [deltas.nodes[p][1] for p in paths],
    )


async def nodes(conn: Conn, tenant_id: str, paths: list[str]) -> dict[str, tuple[int, int]]:
    """`(hash, count)` of the non-empty nodes among `paths`."""
    records = await conn.fetch(
        "SELECT path, hash, count FROM merkle_nodes "
        "WHERE tenant_id = $1 AND path = ANY($2::text[])",
        tenant_id,
        paths,
    )
    return {r["path"]: (r["hash"], r["count"]) for r in records if r["count"] > 0}


async def message_count(conn: Conn, tenant_id: str) -> int:
    """How many messages the tenant holds (its root's count): it goes up with every change,
    at its commit (messages are never deleted)."""
    count = await conn.fetchval(
        "SELECT count FROM merkle_nodes WHERE tenant_id = $1 AND path = ''", tenant_id
    )
    return int(count or 0)


async def subtree(conn: Conn, tenant_id: str, prefix: str, depth: int) -> FlatTrie:
    """The non-empty nodes at `prefix` and at most `depth` levels below it (paths are
    base-3 digits, so a prefix's nodes are the paths from it up to, not including, the
    prefix followed by "3"), and its ancestors up to the root: a view of the top of a
    large trie without reading its 1.7M nodes."""
    trie = FlatTrie()
    for r in await conn.fetch(
        """SELECT path, hash, count FROM merkle_nodes
           WHERE tenant_id = $1 AND count > 0
             AND (path = ANY($4::text[])
                  OR (path >= $2 AND path < $2 || '3' AND length(path) <= $3))""",
        tenant_id,
        prefix,
        len(prefix) + depth,
        [prefix[:i] for i in range(len(prefix))],
    ):
        trie.nodes[r["path"]] = [r["hash"], r["count"]]
    return trie


async def whole(conn: Conn, tenant_id: str) -> FlatTrie:
    trie = FlatTrie()
    for r in await conn.fetch(
        "SELECT path, hash, count FROM merkle_nodes WHERE tenant_id = $1 AND count > 0", tenant_id
    ):
        trie.nodes[r["path"]] = [r["hash"], r["count"]]
    return trie


async def whole_json(conn: Conn, tenant_id: str) -> bytes:
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
