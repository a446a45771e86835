"""The sync protocol's reconciliation logic, free of I/O: which time ranges two replicas must
exchange, found by comparing merkle nodes level by level.

One round: the client describes its messages as a *summary* — disjoint trie nodes
`(path, hash, count)` that together cover everything it holds inside some *scopes* (first
round: the whole timeline, as the "frontier": the left siblings along its newest message's
path, so recent history is finely resolved and old history is a few coarse nodes). The
server compares each node with its own and returns a `Plan`:

* `send`: ranges where it sends every message it has (the client lacks all or nearly all of
  them, or the range is small): nodes the client has nothing in, and differing nodes where
  resending what the client already has would waste little;
* `push`: ranges where the server has nothing, so the client must send all it has;
* `descend`: differing ranges too large to send; next round the client summarizes them
  `STRIDE` levels deeper. Depth grows every round and stops at the minute (16), so the
  exchange ends in a bounded number of rounds: no "out of sync" loop.

After the server sends a range completely, the client knows exactly what the server holds
there and pushes whatever it has beyond that. Messages the client pushed in the same request
are never sent back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .merkle import CHILD_KEYS, KEY_LENGTH, FlatTrie

STRIDE = 3
SEND_ALL_MAX = 64
WASTE_RATIO = 0.2

NodeSummary = tuple[str, int, int]


@dataclass(frozen=True)
class Summary:
    scopes: list[str]
    nodes: list[NodeSummary]


@dataclass
class Plan:
    send: list[str] = field(default_factory=list)
    push: list[str] = field(default_factory=list)
    descend: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not (self.send or self.push or self.descend)


def frontier(trie: FlatTrie) -> Summary:
    """First-round summary: along the newest message's path, every non-empty left sibling at
    every level, and the newest minute itself. Covers all of the trie's messages."""
    if trie.count("") == 0:
        return Summary([""], [])
    path = ""
    nodes: list[NodeSummary] = []
    while len(path) < KEY_LENGTH:
        present = [k for k in CHILD_KEYS if path + k in trie.nodes]
        if not present:
            break
        newest = present[-1]
        for k in present[:-1]:
            nodes.append(_node(trie, path + k))
        path += newest
    nodes.append(_node(trie, path))
    return Summary([""], nodes)


def refine(trie: FlatTrie, paths: Iterable[str], stride: int = STRIDE) -> Summary:
    """Summary of the given ranges, `stride` levels below each (its non-empty descendants)."""
    scopes = list(paths)
    nodes: list[NodeSummary] = []
    for scope in scopes:
        depth = min(KEY_LENGTH, len(scope) + stride)
        level = [scope] if scope in trie.nodes else []
        while level and len(level[0]) < depth:
            level = [p + k for p in level for k in CHILD_KEYS if p + k in trie.nodes]
        nodes.extend(_node(trie, p) for p in level)
    return Summary(scopes, nodes)


def _node(trie: FlatTrie, path: str) -> NodeSummary:
    h, c = trie.nodes[path]
    return (path, h, c)


def uncovered(summary: Summary) -> list[str]:
    """Nodes inside the scopes that no summary node covers: the client holds nothing there."""
    partition = {p for p, _, _ in summary.nodes}
    out: list[str] = []
    for scope in summary.scopes:
        inside = [p for p in partition if p.startswith(scope)]
        if not inside:
            out.append(scope)
            continue
        ancestors = {p[:i] for p in inside for i in range(len(scope), len(p))}
        for a in ancestors:
            for k in CHILD_KEYS:
                child = a + k
                if child not in ancestors and child not in partition:
                    out.append(child)
    return sorted(out)


def paths_needed(summary: Summary) -> list[str]:
    """Every server node the plan will look at (fetch them in one query)."""
    return sorted({p for p, _, _ in summary.nodes} | set(uncovered(summary)))


def plan(
    summary: Summary,
    server: Mapping[str, tuple[int, int]],
    pushed_keys: Iterable[str] = (),
) -> Plan:
    """Decide what to exchange, given the server's `(hash, count)` for `paths_needed`
    (absent = empty) and the minute keys of the messages pushed in this request."""
    pushed = list(pushed_keys)
    result = Plan()
    for path in uncovered(summary):
        if server.get(path, (0, 0))[1] > 0:
            result.send.append(path)
    for path, client_hash, client_count in summary.nodes:
        server_hash, server_count = server.get(path, (0, 0))
        if server_hash == client_hash and server_count == client_count:
            continue
        if server_count == 0:
            result.push.append(path)
            continue
        pushed_here = sum(1 for k in pushed if k.startswith(path))
        useful = max(server_count - client_count, 0)
        waste = max(client_count - pushed_here, 0)
        if (
            len(path) >= KEY_LENGTH
            or server_count - pushed_here <= SEND_ALL_MAX
            or waste <= WASTE_RATIO * useful
        ):
            result.send.append(path)
        else:
            result.descend.append(path)
    result.send.sort()
    result.push.sort()
    result.descend.sort()
    return result
