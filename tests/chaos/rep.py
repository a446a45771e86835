"""One simulated rep, as its own process, with a durable replica in a file.

    python -m tests.chaos.rep --state S.json --url PROXY --token T --rows ROWS.json
        --seed N --ops N [--skew-ms MS] [--die-after-edit K] [--pace-s S] [--until FILE]

Edits shared pre-orders and flows (the same fields other reps edit), goes offline for
stretches (edits without syncing), and syncs through the chaos proxy, shrugging off
failures: a 503 (the server cannot reach PostgreSQL) or a broken connection is counted and
the rep goes on, the edit waiting in its outbox for the next sync. `--die-after-edit K`
exits abruptly right after the K-th edit is durably written, before any sync: the "killed
between writing its outbox and syncing" case. A first start with `--skew-ms` begins with a
clock that far off (until a sync corrects it). `--pace-s` is the mean pause between
operations; with `--until FILE` the rep goes on past `--ops` until FILE exists.

Prints one JSON line per sync outcome (`{"sync": "ok"|"unavailable"|"error", "t": unix
seconds}`, for the run's timeline) and one JSON line of counts at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from itertools import count
from pathlib import Path

import aiohttp
import orjson

from recap_client import ClientReplica, SyncClient, SyncError

STATUSES = ["pending", "confirmed"]


def event(outcome: str) -> None:
    print(orjson.dumps({"sync": outcome, "t": time.time()}).decode(), flush=True)


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--rows", type=Path, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--ops", type=int, required=True)
    p.add_argument("--skew-ms", type=int, default=0)
    p.add_argument("--die-after-edit", type=int, default=0)
    p.add_argument("--pace-s", type=float, default=0.0)
    p.add_argument("--until", type=Path, default=None)
    args = p.parse_args()

    fresh = not args.state.exists()
    replica = ClientReplica.load(args.state)
    if fresh and args.skew_ms:
        replica.offset_ms = args.skew_ms
        replica.save()
    rows = orjson.loads(args.rows.read_bytes())
    rng = random.Random(args.seed)
    counts = {
        "edits": 0,
        "syncs": 0,
        "sync_errors": 0,
        "unavailable": 0,
        "conflicts": 0,
        "offline_edits": 0,
    }
    offline = 0
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = SyncClient(args.url, replica, session, args.token)
        for op in count():
            if op >= args.ops and (args.until is None or args.until.exists()):
                break
            if args.pace_s:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * args.pace_s)
            kind = rng.random()
            if kind < 0.45:
                replica.edit_field(
                    "pre_order_flows", rng.choice(rows["flows"]), "quantity", rng.randrange(0, 100)
                )
            elif kind < 0.65:
                replica.edit_field(
                    "pre_orders", rng.choice(rows["orders"]), "status", rng.choice(STATUSES)
                )
            elif kind < 0.8:
                replica.edit_field(
                    "pre_order_flows", rng.choice(rows["flows"]), "weight", rng.randrange(0, 500)
                )
            elif kind < 0.9:
                replica.edit_field(
                    "pre_order_flows", rng.choice(rows["flows"]), "tombstone", rng.choice([0, 1])
                )
            else:
                replica.edit_field(
                    "pre_orders",
                    rng.choice(rows["orders"]),
                    "delivery_date",
                    f"2026-12-{rng.randrange(1, 28):02d}",
                )
            counts["edits"] += 1
            if args.die_after_edit and counts["edits"] == args.die_after_edit:
                os._exit(137)  # the edit is on disk; the sync never happens
            if offline:
                offline -= 1
                counts["offline_edits"] += 1
                continue
            if rng.random() < 0.15:
                offline = rng.randrange(3, 10)  # a stretch without network
                continue
            try:
                report = await client.sync()
                counts["syncs"] += 1
                counts["conflicts"] += len(report.conflicts)
                event("ok")
            except SyncError as exc:
                counts["sync_errors"] += 1
                if exc.status == 503 and exc.code == "unavailable":
                    # PostgreSQL is down: back off (shorter than the server's Retry-After,
                    # to keep the run short and the server busy), the edit stays queued
                    counts["unavailable"] += 1
                    event("unavailable")
                    await asyncio.sleep(rng.uniform(0.2, 0.5))
                else:
                    event("error")
                    await asyncio.sleep(rng.uniform(0.01, 0.1))
            except Exception:
                counts["sync_errors"] += 1
                event("error")
                await asyncio.sleep(rng.uniform(0.01, 0.1))
    print(orjson.dumps(counts).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
