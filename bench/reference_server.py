"""The reference design's sync, for comparison only (never part of the product).

As in Actual Budget's CRDT and sync server: every request carries the client's pruned
merkle trie as JSON; the server finds the earliest divergence with the reference `diff`
and returns every message since then, with its own pruned trie. The client repeats until
the tries agree. It runs as its own process on the same database and apply path as Recap's
server, so the two designs are compared on the same data and stack.

    python -m bench.reference_server --port 8091   (DATABASE_URL, RECAP_TOKEN_SECRET)
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import orjson
from aiohttp import web

from crdt import merkle
from crdt.message import Message
from crdt.timestamp import min_timestamp_at
from sync_server import database
from sync_server.auth import read_token
from sync_server.storage import merkle as trie_store
from sync_server.storage.apply import apply_messages

POOL = web.AppKey("pool", object)


async def ref_sync(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    who = read_token(os.environ["RECAP_TOKEN_SECRET"], header.removeprefix("Bearer "))
    if who is None:
        return web.json_response({"code": "unauthorized", "message": "bad token"}, status=401)
    body = orjson.loads(await request.read())
    messages = [Message.from_json(m) for m in body["messages"]]
    pool: Any = request.app[POOL]
    async with pool.acquire() as conn:
        await apply_messages(conn, who.tenant_id, who.user_id, messages)
        server_trie = (await trie_store.whole(conn, who.tenant_id)).to_json()
        since = merkle.diff(server_trie, body["merkle"])
        rows: list[Any] = []
        if since is not None:
            rows = await conn.fetch(
                """SELECT timestamp, dataset, row_id, col, value FROM messages
                   WHERE tenant_id = $1 AND timestamp >= $2 ORDER BY timestamp""",
                who.tenant_id,
                min_timestamp_at(since),
            )
    out = {
        "messages": [
            {
                "dataset": r["dataset"],
                "row": r["row_id"],
                "column": r["col"],
                "value": r["value"],
                "timestamp": r["timestamp"],
            }
            for r in rows
        ],
        "merkle": merkle.prune(server_trie),
    }
    return web.Response(body=orjson.dumps(out), content_type="application/json")


async def _ctx(app: web.Application) -> Any:
    pool = await database.create_pool(os.environ["DATABASE_URL"], 2, 8)
    app[POOL] = pool
    yield
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=512 * 1024 * 1024)
    app.cleanup_ctx.append(_ctx)
    app.router.add_post("/ref/sync", ref_sync)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
