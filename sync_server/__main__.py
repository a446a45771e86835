"""`python -m sync_server [run|migrate|citus-distribute|diff]` (no command: run)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from . import database
from .logging_json import configure
from .settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sync_server")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="start the server (embedded PostgreSQL without DATABASE_URL)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--seed", action="store_true", help="seed a demo tenant if none exists")
    run.add_argument(
        "--workers", type=int, help="processes sharing the port (default 1, or RECAP_WORKERS)"
    )
    sub.add_parser("migrate", help="apply pending migrations and exit")
    sub.add_parser(
        "citus-distribute",
        help="on a Citus coordinator (DATABASE_URL), after migrate: reference tables for the "
        "global ones, every tenant table distributed by tenant_id and colocated",
    )
    diff = sub.add_parser(
        "diff",
        help="where two replicas differ, message by message (exit 0: in sync, 1: not)",
        description="Each of A and B is a server URL (with a token), a device export "
        "(recap-device-*.json.gz, from the app's diagnostics page) or a trie JSON file.",
    )
    diff.add_argument("a", help="a server URL, a device export or a trie JSON file")
    diff.add_argument("b", help="a server URL, a device export or a trie JSON file")
    diff.add_argument("--token-a", help="A's bearer token (default: RECAP_TOKEN)")
    diff.add_argument("--token-b", help="B's bearer token (default: RECAP_TOKEN)")
    diff.add_argument("--json", action="store_true", help="print one JSON object")
    diff.add_argument("--html", metavar="FILE", help="also write a page with a timeline")
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])

    if args.command == "diff":
        from .diff_cli import run as run_diff

        return run_diff(args)
    settings = Settings.from_env()
    if args.command == "migrate":
        configure()
        database.migrate(settings.database_url or database.embedded_url(settings.data_dir))
        return 0
    if args.command == "citus-distribute":
        return asyncio.run(_citus_distribute(settings))
    configure()
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if args.seed:
        import seed

        url = settings.database_url or database.embedded_url(settings.data_dir)
        database.migrate(url)
        asyncio.run(seed.seed_if_empty(url))
    if args.workers:
        settings.workers = args.workers
    if settings.workers > 1:
        database.migrate(settings.database_url or database.embedded_url(settings.data_dir))
        from .workers import run_workers

        return run_workers(settings)
    from .workers import serve

    print(f"recap: http://{settings.host}:{settings.port}", flush=True)
    serve(settings)
    return 0


async def _citus_distribute(settings: Settings) -> int:
    """Distribute the tables (storage.distribution); prints each step, 2 when the database
    is not a Citus coordinator or holds a table it cannot place."""
    import asyncpg

    from .storage import distribution

    if not settings.database_url:
        print("citus-distribute: set DATABASE_URL to the Citus coordinator", file=sys.stderr)
        return 2
    conn = await asyncpg.connect(settings.database_url)
    try:
        steps = await distribution.distribute(conn)
    except (distribution.CitusMissing, ValueError) as exc:
        print(f"citus-distribute: {exc}", file=sys.stderr)
        return 2
    finally:
        await conn.close()
    for table, kind in steps:
        print(f"{table}: {kind}")
    print(f"{len(steps)} table(s) placed" if steps else "already distributed: nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
