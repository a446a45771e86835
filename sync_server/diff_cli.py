"""`python -m sync_server diff A B`: where two replicas differ, message by message (DESIGN.md,
"Diagnostics"). The I/O around `diagnose`: each side's trie and messages from a server, a
device export or a trie file; the report printed or written."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from crdt import merkle
from crdt.errors import InvalidMessage
from crdt.message import Message

from . import diagnose, diagnose_report
from .services.diagnostics import is_trie


class DiffError(Exception):
    """A usage or connection problem of `diff`: printed as one line, exit status 2."""


async def _fetch(
    http: aiohttp.ClientSession, method: str, url: str, token: str | None, body: Any = None
) -> dict[str, Any]:
    """One JSON request to a server; any failure is a DiffError naming the URL."""
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
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DiffError(f"{url}: {exc or type(exc).__name__}") from None


async def _load_side(
    http: aiohttp.ClientSession, label: str, source: str, token: str | None
) -> diagnose.Side:
    """A side of the diff: a server (its trie now), a device export or a trie file."""
    if source.startswith(("http://", "https://")):
        if not token:
            raise DiffError(f"{source}: a server needs a token (--token-{label} or RECAP_TOKEN)")
        view = await _fetch(http, "GET", source.rstrip("/") + "/debug/merkle", token)
        if not is_trie(view.get("trie")):
            raise DiffError(f"{source}/debug/merkle: the answer holds no trie")
        return diagnose.Side(
            label, "server", source, view["trie"], view["trie"].get("hash", 0), view.get("count")
        )
    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        raise DiffError(f"{source}: {exc.strerror or exc}") from None
    try:
        data = orjson.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise DiffError(f"{source}: not JSON nor gzip-compressed JSON ({exc})") from None
    if isinstance(data, dict) and data.get("format") == "recap-device":
        return _device(label, source, data)
    trie = data.get("trie", data) if isinstance(data, dict) else data
    if not is_trie(trie):
        raise DiffError(f"{source}: neither a device export nor a trie in the reference form")
    return diagnose.Side(label, "trie", source, trie, int(trie.get("hash", 0)))


def _device(label: str, source: str, data: dict[str, Any]) -> diagnose.Side:
    """A device export (format "recap-device" version 1): what it holds is its log and its
    registers (each the message that wrote a field's value)."""
    trie = data.get("trie")
    if data.get("version") != 1 or not is_trie(trie):
        raise DiffError(f"{source}: not a version 1 device export with a trie")
    registers, messages = data.get("registers"), data.get("messages")
    if not isinstance(registers, list) or not isinstance(messages, list):
        raise DiffError(f"{source}: the export's messages and registers must be lists")
    held: dict[str, Message] = {}
    for item in [*registers, *messages]:
        try:
            if not isinstance(item, dict):
                raise InvalidMessage("a message must be a JSON object")
            m = Message.from_json({k: v for k, v in item.items() if k in _MESSAGE_KEYS})
        except InvalidMessage as exc:
            raise DiffError(f"{source}: a message of the export is malformed ({exc})") from None
        held[m.timestamp] = m
    user = data.get("user") if isinstance(data.get("user"), dict) else {}
    assert isinstance(trie, dict) and isinstance(user, dict)
    outbox = data.get("outbox")
    return diagnose.Side(
        label,
        "device",
        source,
        trie,
        int(trie.get("hash", 0)),
        about={
            "node": data.get("node"),
            "user_name": user.get("name"),
            "user_id": user.get("id"),
            "tenant_id": data.get("tenant_id"),
            "server": data.get("server"),
            "exported_at": data.get("exported_at"),
            "outbox": len(outbox) if isinstance(outbox, list) else None,
        },
        carried=held,
    )


_MESSAGE_KEYS = ("dataset", "row", "column", "value", "timestamp")


async def _diff_sides(a: str, b: str, token_a: str | None, token_b: str | None) -> dict[str, Any]:
    """`diagnose.compare` of two sources: tries first, then, where they diverge, each
    server's messages in the ranges (asked with the other side's trie) and each device
    export's (its log and registers), described."""
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
                described = answer.get("server_described")
                if not isinstance(described, list):
                    raise DiffError(f"{side.source}: this server does not describe its messages")
                side.named = {d["timestamp"]: d for d in described}
                side.truncated = bool(answer.get("truncated"))
                names.update(answer.get("node_names") or {})
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


def run(args: argparse.Namespace) -> int:
    """The `diff` command: 0 in sync, 1 divergent, 2 on a usage or connection error."""
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
