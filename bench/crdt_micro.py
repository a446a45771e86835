"""Micro-benchmark of the CRDT core against the reference (`@actual-app/crdt` under Node),
same workloads and sizes, in the same run: trie inserts, a diff of two large tries, the JSON
size of the trie, and applying messages to an in-memory replica."""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

from crdt import merkle
from crdt.merkle import FlatTrie
from crdt.message import Message
from crdt.replica import Replica
from crdt.timestamp import Timestamp

from .table import Row

ROOT = Path(__file__).resolve().parent.parent
START = 1672531200000  # 2023-01-01
SPAN = 3 * 365 * 86_400_000
NODES = ["0123456789abcdef", "fedcba9876543210", "a1b2c3d4e5f60718", "5a5a5a5a5a5a5a5a"]


def timestamps(count: int, seed: int) -> list[Timestamp]:
    """Evenly spread over three years with jitter, like the reference benchmark's."""
    rng = random.Random(seed)
    return [
        Timestamp(
            START + (i * SPAN) // count + rng.randrange(1000), rng.randrange(4), rng.choice(NODES)
        )
        for i in range(count)
    ]


def time_insert(stamps: list[Timestamp]) -> tuple[FlatTrie, float]:
    trie = FlatTrie()
    started = time.perf_counter()
    for ts in stamps:
        trie.insert(str(ts), ts.millis)
    return trie, time.perf_counter() - started


def time_per_call(fn: object, budget_s: float = 1.0) -> float:
    assert callable(fn)
    rounds = 0
    started = time.perf_counter()
    while rounds < 10 or (rounds < 100_000 and time.perf_counter() - started < budget_s):
        fn()
        rounds += 1
    return (time.perf_counter() - started) / rounds


def reference(small: int, large: int) -> dict[str, float]:
    script = ROOT / "tests" / "reference" / "bench_reference.mjs"
    out = subprocess.run(
        ["node", str(script), str(small), str(large)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    data: dict[str, float] = json.loads(out.stdout)
    return data


def run(quick: bool) -> list[Row]:
    small, large = (20_000, 100_000) if quick else (100_000, 1_000_000)
    ref = reference(small, large)
    label_s, label_l = f"{small // 1000}k", f"{large // 1000}k" if large < 10**6 else "1M"

    stamps = timestamps(small, 1)
    trie, insert_small = time_insert(stamps)
    extra = Timestamp(1718454896789, 9, "0000000000000042")
    a = trie.to_json()
    b = merkle.insert(a, extra)
    diff_s = time_per_call(lambda: merkle.diff(a, b))
    ranges_s = time_per_call(lambda: merkle.diff_ranges(a, b))
    json_bytes = len(json.dumps(a, separators=(",", ":")))
    pruned_bytes = len(json.dumps(merkle.prune(a), separators=(",", ":")))
    _, insert_large = time_insert(timestamps(large, 2))

    rng = random.Random(3)
    rows_ids = [f"0190f2a4-7d1c-7b3e-8a4f-{i:012x}" for i in range(small // 10)]
    messages = [
        Message(
            "pre_order_flows",
            rng.choice(rows_ids),
            rng.choice(["quantity", "weight"]),
            rng.randrange(100),
            str(ts),
        )
        for ts in stamps
    ]
    rng.shuffle(messages)
    replica = Replica("00000000000000ff")
    started = time.perf_counter()
    for i in range(0, len(messages), 1000):
        replica.apply(messages[i : i + 1000])
    apply_s = time.perf_counter() - started

    return [
        Row("crdt: trie insert", f"{label_s} timestamps", insert_small, ref["insert_100k_s"], "s"),
        Row("crdt: trie insert", f"{label_l} timestamps", insert_large, ref["insert_1m_s"], "s"),
        Row(
            "crdt: diff (earliest divergence)",
            f"{label_s} tries, 1 differing",
            diff_s * 1000,
            ref["diff_100k_ms"],
            "ms",
        ),
        Row(
            "crdt: diff_ranges (every divergence)",
            f"{label_s} tries, 1 differing",
            ranges_s * 1000,
            None,
            "ms",
            note="the reference has no equivalent",
        ),
        Row(
            "crdt: trie JSON",
            f"full, {label_s}",
            json_bytes,
            ref["trie_json_bytes_100k"],
            "bytes",
            note="same format, same bytes expected",
        ),
        Row(
            "crdt: trie JSON",
            f"pruned n=2, {label_s}",
            pruned_bytes,
            ref["pruned_json_bytes_100k"],
            "bytes",
        ),
        Row(
            "crdt: replica apply",
            f"{label_s} messages, batches of 1000",
            apply_s,
            None,
            "s",
            note=f"{small / apply_s:,.0f} msg/s; LWW + trie + log",
        ),
    ]
