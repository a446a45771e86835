"""`python -m sync_server [run|migrate|citus-distribute|diff]` (no command: run)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from crdt.errors import InvalidMessage

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
        return _diff(args)
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


class DiffError(Exception):
    """A usage or connection problem of `diff`: printed as one line, exit status 2."""


async def _fetch(
    http: Any, method: str, url: str, token: str | None, body: Any = None
) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with http.request(method, url, json=body, headers=headers) as resp:
            raw = await resp.read()
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                data = raw[:200].decode(errors="replace")
            if resp.status != 200:
                message = data.get("message", data) if isinstance(data, dict) else data
                raise DiffError(f"{url}: HTTP {resp.status}: {message}")
            if not isinstance(data, dict):
                raise DiffError(f"{url}: the answer is not a JSON object")
            return data
    except aiohttp.ClientError as exc:
        raise DiffError(f"{url}: {exc}") from None


async def _load_side(http: Any, label: str, source: str, token: str | None) -> Any:
    """A side of the diff: a server (its trie now), a device export or a trie file."""
    from crdt.message import Message

    from . import diagnose
    from .services.diagnostics import is_trie

    if source.startswith(("http://", "https://")):
        if not token:
            raise DiffError(f"{source}: a server needs a token (--token-{label} or RECAP_TOKEN)")
        view = await _fetch(http, "GET", source.rstrip("/") + "/debug/merkle", token)
        return diagnose.Side(
            label, "server", source, view["trie"], view["root_hash"], view["count"]
        )
    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        raise DiffError(f"{source}: {exc.strerror or exc}") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            import gzip

            raw = gzip.decompress(raw)
        data = orjson.loads(raw)
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise DiffError(f"{source}: not JSON nor gzip-compressed JSON ({exc})") from None
    if isinstance(data, dict) and data.get("format") == "recap-device":
        if data.get("version") != 1 or not is_trie(data.get("trie")):
            raise DiffError(f"{source}: not a version 1 device export with a trie")
        try:
            held = {
                m.timestamp: m
                for m in (
                    Message.from_json({k: v for k, v in item.items() if k in _MESSAGE_KEYS})
                    for item in [*data.get("registers", []), *data.get("messages", [])]
                )
            }
        except (InvalidMessage, AttributeError) as exc:
            raise DiffError(f"{source}: a message of the export is malformed ({exc})") from None
        user = data.get("user") or {}
        return diagnose.Side(
            label,
            "device",
            source,
            data["trie"],
            int(data["trie"].get("hash", 0)),
            about={
                "node": data.get("node"),
                "user_name": user.get("name"),
                "user_id": user.get("id"),
                "tenant_id": data.get("tenant_id"),
                "server": data.get("server"),
                "exported_at": data.get("exported_at"),
                "outbox": len(data.get("outbox", [])),
            },
            carried=held,
        )
    trie = data.get("trie", data) if isinstance(data, dict) else data
    if not is_trie(trie):
        raise DiffError(f"{source}: neither a device export nor a trie in the reference form")
    return diagnose.Side(label, "trie", source, trie, int(trie.get("hash", 0)))


_MESSAGE_KEYS = ("dataset", "row", "column", "value", "timestamp")


async def _diff_sides(a: str, b: str, token_a: str | None, token_b: str | None) -> dict[str, Any]:
    """`diagnose.compare` of two sources: tries first, then, where they diverge, each
    server's messages in the ranges (asked with the other side's trie) and each device
    export's (its log and registers), described."""
    import aiohttp

    from crdt import merkle

    from . import diagnose

    async with aiohttp.ClientSession() as http:
        side_a = await _load_side(http, "a", a, token_a)
        side_b = await _load_side(http, "b", b, token_b)
        ranges = merkle.diff_ranges(side_a.trie, side_b.trie)
        names: dict[str, str] = {}
        if ranges:
            for side, other, token in ((side_a, side_b, token_a), (side_b, side_a, token_b)):
                if side.kind != "server":
                    continue
                nodes = sorted({m.node for m in (other.carried or {}).values()})
                answer = await _fetch(
                    http,
                    "POST",
                    side.source.rstrip("/") + "/debug/merkle/compare",
                    token,
                    {"trie": other.trie, "nodes": nodes[:1000]},
                )
                side.named = {d["timestamp"]: d for d in answer["server_described"]}
                side.truncated = bool(answer["truncated"])
                names.update(answer["node_names"])
    for side in (side_a, side_b):
        held = side.carried
        if held is None:
            continue
        mine = [m for m in held.values() if diagnose.inside(m.timestamp, ranges)]
        own = {side.about.get("node"): side.about.get("user_name")}
        rows = diagnose.rows_from_messages(held.values())
        side.named = {
            m.timestamp: diagnose.describe(m, rows, own.get(m.node) or names.get(m.node) or m.node)
            for m in mine
        }
    return diagnose.compare(side_a, side_b, ranges)


def _diff(args: argparse.Namespace) -> int:
    import os

    from . import diagnose_report

    env = os.environ.get("RECAP_TOKEN")
    try:
        result = asyncio.run(_diff_sides(args.a, args.b, args.token_a or env, args.token_b or env))
    except DiffError as exc:
        print(f"diff: {exc}", file=sys.stderr)
        return 2
    if args.html:
        try:
            Path(args.html).write_text(diagnose_report.page(result), encoding="utf-8")
        except OSError as exc:
            print(f"diff: {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(diagnose_report.text(result))
        if args.html:
            print(f"wrote {args.html}")
    return 0 if result["in_sync"] else 1


if __name__ == "__main__":
    sys.exit(main())
