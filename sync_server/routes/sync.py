"""POST /sync: one round of the protocol (DESIGN.md, "Protocol")."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from crdt import hlc
from crdt.errors import ClockError, InvalidMessage
from crdt.merkle import timestamp_key
from crdt.message import Message
from crdt.reconcile import Summary, paths_needed, plan
from crdt.schema import validate
from crdt.timestamp import Timestamp, millis_of

from .. import storage
from ..api.models import SyncIn, SyncOut
from ..api.registry import operation
from ..app import CLOCK, METRICS, NODE_OWNERS, POOL, SETTINGS, json_response, principal
from ..errors import ApiError, bad_request, forbidden, invalid
from ..protocol import Cursor, SyncRequest
from ..writer import WRITER


def now_ms() -> int:
    return int(time.time() * 1000)


async def read_json(request: web.Request) -> Any:
    body = await request.read()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"body is not valid JSON: {exc}") from None


def parse_messages(raw: list[Any], server_now: int, max_drift_ms: int) -> list[Message]:
    """Validate every message before anything is written; the first bad one fails the
    request with its index, so a batch is all or nothing."""
    out = []
    seen: dict[str, Message] = {}
    for i, item in enumerate(raw):
        try:
            message = Message.from_json(item)
            validate(message)
        except InvalidMessage as exc:
            raise invalid(f"message {i}: {exc}", index=i) from None
        twin = seen.setdefault(message.timestamp, message)
        if twin is not message and _content(twin) != _content(message):
            # A timestamp is a message's identity: two different edits under one stamp
            # would be decided by arrival order, differently on every replica.
            raise invalid(
                f"message {i}: timestamp {message.timestamp} is used by an earlier message "
                "of this batch with different content",
                index=i,
            )
        millis = millis_of(message.timestamp)  # validated by from_json
        if millis - server_now > max_drift_ms:
            raise ApiError(
                422,
                "clock_drift",
                f"message {i} is stamped {millis - server_now} ms ahead of the server clock "
                f"(limit {max_drift_ms} ms); correct the clock offset and re-stamp unsent edits",
                index=i,
                server_time=server_now,
            )
        out.append(message)
    return out


def _content(message: Message) -> tuple[str, str, str, bytes]:
    return (message.dataset, message.row, message.column, orjson.dumps(message.value))


@operation(
    "POST",
    "/sync",
    "One round of the sync protocol (see DESIGN.md)",
    "sync",
    body=SyncIn,
    response=SyncOut,
    errors=[400, 403, 413, 422],
)
async def sync(request: web.Request) -> web.Response:
    started = time.perf_counter()
    who = principal(request)
    settings = request.app[SETTINGS]
    try:
        body = SyncRequest.model_validate(await read_json(request))
    except ValidationError as exc:
        raise invalid(_first_error(exc)) from None
    if len(body.messages) > settings.max_messages_per_request:
        raise ApiError(
            413,
            "too_many_messages",
            f"{len(body.messages)} messages in one request; the limit is "
            f"{settings.max_messages_per_request}: send them over several requests",
        )
    server_now = now_ms()
    messages = parse_messages(body.messages, server_now, settings.max_drift_ms)
    # Decoded before anything is written: a malformed cursor must not leave a stored batch.
    cursor = Cursor.decode(body.cursor) if body.cursor is not None else None

    pool = request.app[POOL]
    async with pool.acquire() as conn:  # a pool checkout costs no round trip
        if not await request.app[NODE_OWNERS].owns(conn, who.tenant_id, body.node, who.user_id):
            raise forbidden("this node id belongs to another user's device")
    # No connection is held while waiting for the tenant's writer: it needs one of its own.
    outcome = await request.app[WRITER].apply(who.tenant_id, who.user_id, body.node, messages)
    _advance_server_clock(request, outcome.inserted, server_now)
    async with pool.acquire() as conn:
        metrics = request.app[METRICS]
        metrics.counters["messages_received"] += len(messages)
        metrics.counters["messages_inserted"] += len(outcome.inserted)

        response: dict[str, Any] = {
            "server_time": server_now,
            "inserted": len(outcome.inserted),
        }
        summary = None
        if cursor is None and body.summary is not None:
            summary = Summary(
                list(body.summary.scopes), [(p, h, c) for p, h, c in body.summary.nodes]
            )
        # The plan's nodes and the root in one query.
        wanted = paths_needed(summary) if summary is not None else []
        nodes = await storage.merkle_nodes(conn, who.tenant_id, [*wanted, ""])
        if cursor is not None:
            send_paths, after = cursor.paths, cursor.after
        elif summary is not None:
            keys = [timestamp_key(millis_of(m.timestamp)) for m in messages]
            decided = plan(summary, nodes, keys)
            response.update(push=decided.push, descend=decided.descend)
            send_paths, after = decided.send, ""
        else:
            send_paths, after = [], ""
        response["send"] = send_paths
        page, next_cursor = await _page(request, conn, who.tenant_id, body.node, send_paths, after)
        response["messages"] = page
        response["cursor"] = next_cursor
        response["root"] = list(nodes.get("", (0, 0)))
        mine, latest = await storage.conflicts_for_user(
            conn, who.tenant_id, who.user_id, body.conflicts_after
        )
        upto = max(body.conflicts_after, latest)
        response["conflicts"] = mine
        # Everything up to `upto` was either returned or is not this user's, unless the page
        # was cut short by its limit.
        response["conflicts_watermark"] = mine[-1]["id"] if len(mine) >= 200 else upto
    request.app[METRICS].observe_sync(time.perf_counter() - started)
    return json_response(response)


async def _page(
    request: web.Request, conn: Any, tenant_id: str, node: str, paths: list[str], after: str
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the messages in `paths`, bounded by count and bytes."""
    if not paths:
        return [], None
    settings = request.app[SETTINGS]
    records = await storage.messages_in_paths(
        conn, tenant_id, paths, after, node, settings.page_messages + 1
    )
    page: list[dict[str, Any]] = []
    size = 0
    for record in records[: settings.page_messages]:
        if page and size + record["size"] > settings.page_bytes:
            break
        page.append(storage.message_json(record))
        size += record["size"] + 120
    if len(page) < len(records):
        return page, Cursor(paths=paths, after=page[-1]["timestamp"]).encode()
    return page, None


def _advance_server_clock(request: web.Request, inserted: list[Message], server_now: int) -> None:
    """Keep the server's own clock ahead of everything it stored, so its own writes (REST
    API) order after what it has seen."""
    if not inserted:
        return
    holder = request.app[CLOCK]
    newest = max(m.timestamp for m in inserted)
    try:
        ts = Timestamp.parse(newest)
        if ts.node != holder[0].node:
            holder[0] = hlc.recv(holder[0], ts, server_now)
    except ClockError:
        pass  # already bounded by the drift check; a clock error here must not fail the sync


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])
