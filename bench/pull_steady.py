"""Issue 16: bytes and requests per sync in the steady state of many reps: Recap with the
incremental pull, Recap without it (range reconciliation from the first round, what every
sync did before), and the real Actual server (bench/actual_peer.py), on the same random
sequence of edits, in one run.

`python -m bench.pull_steady [--reps N] [--syncs N]`: REPS reps of one tenant (one Actual
budget), each holding the tenant's state, take turns at random: edit one to three
quantities of a shared set of order lines (so that edits bunch in the same minutes, as a
team's do), then sync. Per sync: the requests, the bytes on the wire both ways, the
seconds, and the minimum, the messages this replica lacked as JSON (compression can bring
a sync under it). Syncs run one at a time: this is the cost of a sync, not the server under
load (bench/many_reps.py). Prints one table."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from typing import Any

import aiohttp
import orjson

from crdt.message import Message
from recap_client import ClientReplica, SyncClient

from .actual_peer import ActualPeer
from .harness import Harness, percentile
from .table import Row, render

LINES = 60


def _lacked_bytes(lacked: list[Message]) -> int:
    return len(orjson.dumps([m.to_json() for m in lacked])) if lacked else 0


def _summary(per_sync: list[tuple[int, int, int, int, float]]) -> dict[str, float]:
    """per sync: requests, bytes in, bytes out, minimum, seconds."""
    n = len(per_sync)
    total_in = sum(p[1] for p in per_sync)
    total_min = sum(p[3] for p in per_sync)
    return {
        "requests": sum(p[0] for p in per_sync) / n,
        "bytes_in_mean": total_in / n,
        "bytes_in_p95": percentile([float(p[1]) for p in per_sync], 95),
        "bytes_out_mean": sum(p[2] for p in per_sync) / n,
        "bytes_mean": sum(p[1] + p[2] for p in per_sync) / n,
        "minimum_mean": total_min / n,
        "over_minimum": total_in / total_min if total_min else float("nan"),
        "ms_p50": percentile([p[4] * 1000 for p in per_sync], 50),
        "ms_p99": percentile([p[4] * 1000 for p in per_sync], 99),
    }


async def _pass(h: Harness, pull: bool, reps: int, syncs: int, seed: int) -> dict[str, float]:
    _, tokens = await h.tenant(f"pull-{pull}", [f"rep{i}" for i in range(reps)])
    assert h.server is not None
    url = f"http://127.0.0.1:{h.server.port}"
    rng = random.Random(seed)
    lines = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(LINES)]
    async with aiohttp.ClientSession() as http:
        clients = [
            SyncClient(url, ClientReplica(), http, tokens[f"rep{i}"], pull=pull)
            for i in range(reps)
        ]
        first = clients[0]
        for line in lines:
            first.replica.edit_row("pre_order_flows", line, {"quantity": 1, "tombstone": 0})
        await first.sync()
        for c in clients:
            await c.sync()
        per_sync: list[tuple[int, int, int, int, float]] = []
        for _ in range(syncs):
            c = rng.choice(clients)
            for _ in range(rng.randint(1, 3)):
                c.replica.edit_field(
                    "pre_order_flows", rng.choice(lines), "quantity", rng.randint(1, 99)
                )
            before = set(c.replica.log)
            t = time.perf_counter()
            report = await c.sync()
            seconds = time.perf_counter() - t
            new = [c.replica.log[ts] for ts in c.replica.log if ts not in before]
            lacked = [m for m in new if m.node != c.replica.node]
            per_sync.append(
                (
                    report.requests,
                    report.bytes_received,
                    report.bytes_sent,
                    _lacked_bytes(lacked),
                    seconds,
                )
            )
    return _summary(per_sync)


async def _actual_pass(actual: ActualPeer, reps: int, syncs: int, seed: int) -> dict[str, float]:
    """The same sequence of edits (the same random draws) on Actual's replicas, each edit
    stamped by the replica's own clock, each sync the real client's full-sync loop."""
    budget = await actual.budget(f"steady-{seed}")
    rng = random.Random(seed)
    lines = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(LINES)]
    ids = [f"{budget}-rep{i}" for i in range(reps)]
    for rid in ids:
        await actual.replica(rid, budget)

    def edit(line: str, column: str, value: Any) -> dict[str, Any]:
        return {"dataset": "pre_order_flows", "row": line, "column": column, "value": value}

    first = ids[0]
    await actual.stamp(
        first,
        [e for line in lines for e in (edit(line, "quantity", 1), edit(line, "tombstone", 0))],
    )
    await actual.sync(first)
    for rid in ids:
        await actual.sync(rid)
    per_sync: list[tuple[int, int, int, int, float]] = []
    failures = 0
    for _ in range(syncs):
        rid = rng.choice(ids)
        edits = [
            edit(rng.choice(lines), "quantity", rng.randint(1, 99))
            for _ in range(rng.randint(1, 3))
        ]
        await actual.stamp(rid, edits)
        # Timed inside the Node client (its HTTP exchanges and apply), not the pipe to it.
        report = await actual.sync(rid)
        seconds = report.seconds
        failures += not report.converged
        per_sync.append(
            (
                report.requests,
                report.bytes_received,
                report.bytes_sent,
                _lacked_bytes(report.lacked),
                seconds,
            )
        )
    return {**_summary(per_sync), "failures": failures}


async def measure(reps: int, syncs: int, seed: int = 16) -> list[Row]:
    async with Harness() as h:
        with_pull = await _pass(h, True, reps, syncs, seed)
        ranges = await _pass(h, False, reps, syncs, seed)
    async with ActualPeer() as actual:
        real = await _actual_pass(actual, reps, syncs, seed)
    name = f"steady state, {reps} reps, {syncs} syncs"

    def row(figure: str, key: str, unit: str, note: str = "") -> Row:
        without = f"Recap without the pull: {ranges[key]:,.2f}"
        return Row(
            name, figure, with_pull[key], real[key], unit, note=f"{without}; {note}".rstrip("; ")
        )

    return [
        row(
            "requests per sync",
            "requests",
            "req",
            "reference column: the real Actual server and client (@actual-app/sync-server "
            f"26.9.0, @actual-app/crdt 3.1.3); Actual syncs that gave up: {real['failures']:.0f}",
        ),
        row("bytes per sync, both ways (mean)", "bytes_mean", "B"),
        row("bytes received per sync (mean)", "bytes_in_mean", "B"),
        row("bytes received per sync (p95)", "bytes_in_p95", "B"),
        row("bytes sent per sync (mean)", "bytes_out_mean", "B"),
        row("lacked messages as JSON (mean)", "minimum_mean", "B"),
        row("bytes received / lacked", "over_minimum", "x"),
        row("ms per sync, one at a time (p50)", "ms_p50", "ms"),
        row("ms per sync, one at a time (p99)", "ms_p99", "ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pull_steady")
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--syncs", type=int, default=400)
    args = parser.parse_args()
    print(render(asyncio.run(measure(args.reps, args.syncs))))


if __name__ == "__main__":
    main()
