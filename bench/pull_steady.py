"""Issue 16: bytes and requests per sync in the steady state of many reps, with the
incremental pull and without it (range reconciliation from the first round, what every
sync did before), on the same random sequence of edits, in one run.

`python -m bench.pull_steady [--reps N] [--syncs N]`: REPS reps of one tenant, each holding
the tenant's state, take turns at random: edit one to three quantities of a shared set of
order lines (so that edits bunch in the same minutes, as a team's do), then sync. Per sync:
the requests, the bytes on the wire both ways, and the minimum, the messages this replica
lacked as JSON (compression can bring a sync under it). Prints one table."""

from __future__ import annotations

import argparse
import asyncio
import random
import uuid

import aiohttp
import orjson

from recap_client import ClientReplica, SyncClient

from .harness import Harness, percentile
from .table import Row, render

LINES = 60


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
        per_sync: list[tuple[int, int, int, int]] = []  # requests, bytes in, bytes out, min
        for _ in range(syncs):
            c = rng.choice(clients)
            for _ in range(rng.randint(1, 3)):
                c.replica.edit_field(
                    "pre_order_flows", rng.choice(lines), "quantity", rng.randint(1, 99)
                )
            before = set(c.replica.log)
            report = await c.sync()
            new = [c.replica.log[ts] for ts in c.replica.log if ts not in before]
            lacked = [m for m in new if m.node != c.replica.node]
            minimum = len(orjson.dumps([m.to_json() for m in lacked])) if lacked else 0
            per_sync.append((report.requests, report.bytes_received, report.bytes_sent, minimum))
    n = len(per_sync)
    total_in = sum(p[1] for p in per_sync)
    total_min = sum(p[3] for p in per_sync)
    return {
        "requests": sum(p[0] for p in per_sync) / n,
        "bytes_in_mean": total_in / n,
        "bytes_in_p95": percentile([float(p[1]) for p in per_sync], 95),
        "bytes_out_mean": sum(p[2] for p in per_sync) / n,
        "minimum_mean": total_min / n,
        "over_minimum": total_in / total_min if total_min else float("nan"),
    }


async def measure(reps: int, syncs: int, seed: int = 16) -> list[Row]:
    async with Harness() as h:
        with_pull = await _pass(h, True, reps, syncs, seed)
        ranges = await _pass(h, False, reps, syncs, seed)
    name = f"steady state, {reps} reps, {syncs} syncs"
    return [
        Row(
            name,
            "requests per sync",
            with_pull["requests"],
            ranges["requests"],
            "req",
            note="reference column: range reconciliation from the first round (before the pull)",
        ),
        Row(
            name,
            "bytes received per sync (mean)",
            with_pull["bytes_in_mean"],
            ranges["bytes_in_mean"],
            "B",
        ),
        Row(
            name,
            "bytes received per sync (p95)",
            with_pull["bytes_in_p95"],
            ranges["bytes_in_p95"],
            "B",
        ),
        Row(
            name,
            "bytes sent per sync (mean)",
            with_pull["bytes_out_mean"],
            ranges["bytes_out_mean"],
            "B",
        ),
        Row(
            name,
            "lacked messages as JSON (mean)",
            with_pull["minimum_mean"],
            ranges["minimum_mean"],
            "B",
        ),
        Row(
            name, "bytes received / lacked", with_pull["over_minimum"], ranges["over_minimum"], "x"
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pull_steady")
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--syncs", type=int, default=400)
    args = parser.parse_args()
    print(render(asyncio.run(measure(args.reps, args.syncs))))


if __name__ == "__main__":
    main()
