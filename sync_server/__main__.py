"""`python -m sync_server [run|migrate|diff]` (no command: run)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

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
    diff = sub.add_parser("diff", help="diff two replicas' merkle tries")
    diff.add_argument("a", help="a trie JSON file, or a server URL (with --token-a)")
    diff.add_argument("b", help="a trie JSON file, or a server URL (with --token-b)")
    diff.add_argument("--token-a")
    diff.add_argument("--token-b")
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])

    settings = Settings.from_env()
    if args.command == "migrate":
        configure()
        database.migrate(settings.database_url or database.embedded_url(settings.data_dir))
        return 0
    if args.command == "diff":
        return asyncio.run(_diff(args.a, args.b, args.token_a, args.token_b))
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


async def _load_trie(source: str, token: str | None) -> Any:
    if source.startswith(("http://", "https://")):
        import aiohttp

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession() as session,
            session.get(source.rstrip("/") + "/debug/merkle", headers=headers) as resp,
        ):
            body = await resp.json()
            if resp.status != 200:
                raise SystemExit(f"{source}: {resp.status} {body}")
            return body["trie"]
    data = orjson.loads(Path(source).read_bytes())
    return data.get("trie", data) if isinstance(data, dict) else data


async def _diff(a: str, b: str, token_a: str | None, token_b: str | None) -> int:
    from crdt import merkle
    from crdt.timestamp import iso_millis

    trie_a, trie_b = await _load_trie(a, token_a), await _load_trie(b, token_b)
    ranges = merkle.diff_ranges(trie_a, trie_b)
    if not ranges:
        print("in sync: the two replicas hold the same messages")
        return 0
    print(f"{len(ranges)} divergent range(s):")
    for start, end in ranges:
        minutes = (end - start) // 60_000
        print(f"  {iso_millis(start)} .. {iso_millis(end)}  ({minutes} min)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
