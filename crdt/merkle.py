"""The merkle trie over message timestamps, in the exact format of `@actual-app/crdt` v3.

A timestamp's key is its minute (`millis // 60000`) written in base 3 (16 digits from
1997-04-13 to 2051-11-05; the reference does not pad, and neither do we). Every node on the
key's path XORs in the murmur3 hash of the timestamp string; JavaScript's `^` makes stored
hashes signed 32-bit, so ours are too. Two replicas hold the same set of timestamps exactly
when their root hashes agree (up to hash collisions), and the first differing children say
where in time they diverge.

Two forms, same hashes:

* the reference's JSON trie (`{"hash": h, "0": {...}, "1": {...}}`), with `insert`, `diff`
  and `prune` as the reference has them, for byte-for-byte comparison with it and for the
  debug endpoint; plus `diff_ranges`, which returns *every* divergent range, not only the
  earliest;
* `FlatTrie`, a mutable `path -> [hash, count]` map that the replica and the sync protocol
  use: inserting is 17 dict updates instead of 17 dict copies, and the per-node message
  count lets the protocol tell "the client lacks everything here" from "one message differs".

XOR cancels a timestamp inserted twice: insert only messages that were newly stored.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from .timestamp import Timestamp, hash_timestamp, millis_of

Trie = dict[str, Any]

KEY_LENGTH = 16
MINUTE_MS = 60_000
CHILD_KEYS = ("0", "1", "2")


def to_signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x1_0000_0000 if value & 0x8000_0000 else value


@functools.lru_cache(maxsize=65536)
def _minute_key(minutes: int) -> str:
    if minutes == 0:
        return "0"
    digits = []
    while minutes:
        minutes, r = divmod(minutes, 3)
        digits.append("012"[r])
    return "".join(reversed(digits))


def timestamp_key(millis: int) -> str:
    """`Number(Math.floor(millis / 1000 / 60)).toString(3)` (cached per minute: histories
    are dense in time, so most keys repeat)."""
    return _minute_key(millis // MINUTE_MS)


def key_to_millis(key: str) -> int:
    """The reference's `keyToTimestamp`: pad the key with zeros to 16 digits, read base 3."""
    full = key + "0" * (KEY_LENGTH - len(key))
    return int(full, 3) * MINUTE_MS if full else 0


def key_range(key: str) -> tuple[int, int]:
    """[start, end) in millis of every timestamp whose key starts with `key` (16-digit keys)."""
    start = key_to_millis(key)
    return start, start + 3 ** (KEY_LENGTH - len(key)) * MINUTE_MS


def empty() -> Trie:
    return {"hash": 0}


def children(node: Trie) -> list[str]:
    return [k for k in CHILD_KEYS if k in node]


def insert(trie: Trie, timestamp: Timestamp | str) -> Trie:
    """A new trie with `timestamp` added; `trie` is not modified (unchanged subtrees shared)."""
    ts = timestamp if isinstance(timestamp, Timestamp) else Timestamp.parse(timestamp)
    return _insert_hashed(trie, timestamp_key(ts.millis), ts.hash())


def _insert_hashed(trie: Trie, key: str, h: int) -> Trie:
    top = dict(trie)
    top["hash"] = to_signed32(trie.get("hash", 0) ^ h)
    node = top
    for c in key:
        child = dict(node.get(c, {}))
        child["hash"] = to_signed32(child.get("hash", 0) ^ h)
        node[c] = child
        node = child
    return top


def build(timestamps: Iterable[Timestamp | str]) -> Trie:
    """Fold `insert` over the timestamps (the reference's `build` returns an empty trie)."""
    flat = FlatTrie()
    for ts in timestamps:
        flat.insert(str(ts))
    return flat.to_json()


def diff(trie1: Trie, trie2: Trie) -> int | None:
    """The reference's `diff`: millis where the earliest divergence it can see starts.

    Descends into the first differing child in key order and stops where either side lacks
    a key (pruning is lossy), so the answer may be earlier than the true divergence.
    """
    if trie1.get("hash") == trie2.get("hash"):
        return None
    node1, node2, k = trie1, trie2, ""
    while True:
        keys = sorted(set(children(node1)) | set(children(node2)))
        diffkey = None
        for key in keys:
            next1, next2 = node1.get(key), node2.get(key)
            if next1 is None or next2 is None:
                break
            if next1.get("hash") != next2.get("hash"):
                diffkey = key
                break
        if diffkey is None:
            return key_to_millis(k)
        k += diffkey
        node1 = node1.get(diffkey) or empty()
        node2 = node2.get(diffkey) or empty()


def diff_ranges(trie1: Trie, trie2: Trie) -> list[tuple[int, int]]:
    """Every divergent time range, as sorted, coalesced [start, end) millis pairs.

    Descends into every differing child. A node whose children do not XOR to its own hash
    is missing some (a leaf, or a pruned trie): what differs inside it cannot be located, so
    its whole range diverges. Otherwise some child explains the difference: one side lacks
    it (its whole range diverges) or both have it with different hashes (descend). Empty
    exactly when the root hashes are equal.
    """
    ranges: list[tuple[int, int]] = []

    def complete(node: Trie) -> bool:
        acc = 0
        for key in CHILD_KEYS:
            child = node.get(key)
            if child is not None:
                acc ^= child.get("hash", 0)
        return bool(to_signed32(acc) == node.get("hash", 0))

    def walk(a: Trie, b: Trie, prefix: str) -> None:
        if a.get("hash", 0) == b.get("hash", 0):
            return
        if not (complete(a) and complete(b)):
            ranges.append(key_range(prefix))
            return
        for key in CHILD_KEYS:
            ca, cb = a.get(key), b.get(key)
            if ca is None and cb is None:
                continue
            if ca is None or cb is None:
                ranges.append(key_range(prefix + key))
            elif ca.get("hash", 0) != cb.get("hash", 0):
                walk(ca, cb, prefix + key)

    walk(trie1, trie2, "")
    return coalesce(ranges)


def coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def prune(trie: Trie, n: int = 2) -> Trie:
    """The reference's `prune`: keep the last `n` children per level (a trie whose hash is 0
    is returned as it is, as the reference does)."""
    if not trie.get("hash"):
        return trie
    out: Trie = {"hash": trie["hash"]}
    keys = children(trie)
    for k in keys[-n:]:  # like JavaScript's slice(-n): n = 0 keeps every child
        out[k] = prune(trie[k], n)
    return out


def subtree(trie: Trie, path: str) -> Trie | None:
    node: Trie | None = trie
    for c in path:
        if node is None:
            return None
        node = node.get(c)
    return node


class FlatTrie:
    """The same trie as a mutable `path -> [signed hash, message count]` map.

    Path "" is the root; a path of length 16 is a minute. Counts are not part of the
    reference format; the sync protocol uses them to size ranges.
    """

    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes: dict[str, list[int]] = {}

    def insert(self, timestamp: str, millis: int | None = None) -> None:
        """Add one newly stored timestamp (a canonical string)."""
        if millis is None:
            millis = millis_of(timestamp)
        self.insert_hashed(timestamp_key(millis), hash_timestamp(timestamp))

    def insert_hashed(self, key: str, h: int) -> None:
        # XOR of two signed 32-bit ints is a signed 32-bit int in Python (two's complement
        # with sign extension), so the hash is converted once, not at every level.
        h = to_signed32(h)
        nodes = self.nodes
        for i in range(len(key) + 1):
            path = key[:i]
            node = nodes.get(path)
            if node is None:
                nodes[path] = [h, 1]
            else:
                node[0] ^= h
                node[1] += 1

    def insert_many(self, timestamps: Iterable[str], sign: int = 1) -> None:
        """Add newly stored timestamps. Their hashes are folded per minute first, so a batch
        made within a few minutes touches each trie path once, not once per message."""
        per_minute: dict[str, list[int]] = {}
        for ts in timestamps:
            key = timestamp_key(millis_of(ts))
            acc = per_minute.get(key)
            h = hash_timestamp(ts)
            if acc is None:
                per_minute[key] = [h, 1]
            else:
                acc[0] ^= h
                acc[1] += 1
        nodes = self.nodes
        for key, (h, n) in per_minute.items():
            h, n = to_signed32(h), sign * n
            for i in range(len(key) + 1):
                path = key[:i]
                node = nodes.get(path)
                if node is None:
                    nodes[path] = [h, n]
                else:
                    node[0] ^= h
                    node[1] += n
                    if node[1] == 0:
                        del nodes[path]

    def remove_many(self, timestamps: Iterable[str]) -> None:
        """Take out timestamps that are in the trie (XOR is its own inverse): for a replica
        that withdraws edits no one else has seen."""
        self.insert_many(timestamps, sign=-1)

    def hash(self, path: str = "") -> int:
        node = self.nodes.get(path)
        return node[0] if node else 0

    def count(self, path: str = "") -> int:
        node = self.nodes.get(path)
        return node[1] if node else 0

    def get(self, path: str) -> tuple[int, int] | None:
        node = self.nodes.get(path)
        return (node[0], node[1]) if node else None

    def to_json(self) -> Trie:
        """The reference's nested JSON form (without counts)."""
        root: Trie = {"hash": self.hash("")}
        built: dict[str, Trie] = {"": root}
        for path in sorted(self.nodes, key=len):
            if not path:
                continue
            node: Trie = {"hash": self.nodes[path][0]}
            built[path[:-1]][path[-1]] = node
            built[path] = node
        return root

    def copy(self) -> FlatTrie:
        out = FlatTrie()
        out.nodes = {p: list(v) for p, v in self.nodes.items()}
        return out
