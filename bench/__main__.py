"""`python -m bench [--quick] [--only NAME,...]`: run the benchmarks, print one table, and
write it as JSON under bench/results/."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from .harness import commit, machine
from .table import Row, render

SUITES = ["crdt", "sync", "pull", "browser"]
#: Run only when named in --only: IndexedDB growth (issue 20) builds two versions of the app
#: and simulates a month (bench/idb_growth.py; also `python -m bench.idb_growth`).
OPT_IN = ["idb"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    parser.add_argument("--only", default=",".join(SUITES), help=f"comma list of {SUITES + OPT_IN}")
    args = parser.parse_args(argv)
    only = [s for s in args.only.split(",") if s]
    rows: list[Row] = []
    if "crdt" in only:
        from . import crdt_micro

        rows += crdt_micro.run(args.quick)
        print(render(rows), flush=True)
    if "sync" in only:
        from .browser_bootstrap import measure
        from .sync_workloads import run as run_sync

        # The browser bootstrap runs on the sync suite's big tenant (seeded once).
        rows += run_sync(args.quick, measure if "browser" in only else None)
    elif "browser" in only:
        from .browser_bootstrap import run as run_browser

        rows += run_browser(args.quick)
    if "pull" in only:
        import asyncio

        from .pull_steady import measure as measure_pull

        rows += asyncio.run(measure_pull(20, 100) if args.quick else measure_pull(200, 1000))
        print(render(rows), flush=True)
    if "idb" in only:
        from . import idb_growth

        rows += idb_growth.run(args.quick)
    print()
    print(render(rows))
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{stamp}{'-quick' if args.quick else ''}.json"
    path.write_text(
        json.dumps(
            {
                "date": stamp,
                "commit": commit(),
                "quick": args.quick,
                "machine": machine(),
                "rows": [r.as_dict() for r in rows],
            },
            indent=1,
        )
    )
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
