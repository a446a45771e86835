"""One round of the sync protocol (DESIGN.md, "Sync protocol"): validate the pushed batch,
apply it through the tenant writer, plan the reconciliation against the stored trie
(`crdt.reconcile.plan`), and page out the messages the client lacks, with the caller's
conflict notices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from crdt.errors import InvalidMessage
from crdt.merkle import timestamp_key
from crdt.message import Message
from crdt.reconcile import Summary, paths_needed, plan
from crdt.schema import validate
from crdt.timestamp import millis_of

from ..auth import Principal
from ..clock import ServerClock
from ..errors import EmailTaken, Forbidden, Invalid, TimestampReused, TooLarge
from ..metrics import Metrics
from ..protocol import Cursor, SyncRequest
from ..settings import Settings
from ..storage import conflicts, merkle, messages
from ..storage.common import Conn
from .nodes import NodeOwners
from .permissions import check_writes
from .writer import TenantWriter

#: Conflict notices per response; the watermark says where the next page starts.
CONFLICTS_PAGE = 200


def parse_messages(raw: list[Any], node: str, clock: ServerClock, server_now: int) -> list[Message]:
    """Validate every message before anything is written; the first bad one fails the
    request with its index, so a batch is all or nothing. Each must carry the pushing
    device's own node id (403 `foreign_node`): a device writes only under its own name, so
    no one can take another device's next timestamp and erase its edit."""
    out = []
    seen: dict[str, Message] = {}
    for i, item in enumerate(raw):
        try:
            message = Message.from_json(item)
            validate(message)
        except InvalidMessage as exc:
            raise Invalid(f"message {i}: {exc}", index=i) from None
        if message.node != node:
            raise Forbidden(
                f"message {i} carries node {message.node}, not this device's node {node}: a "
                "device pushes only its own edits",
                code="foreign_node",
                index=i,
            )
        twin = seen.setdefault(message.timestamp, message)
        if twin is not message and _content(twin) != _content(message):
            # A timestamp is a message's identity: two different edits under one stamp
            # would be decided by arrival order, differently on every replica.
            raise Invalid(
                f"message {i}: timestamp {message.timestamp} is used by an earlier message "
                "of this batch with different content",
                index=i,
            )
        millis = millis_of(message.timestamp)  # validated by from_json
        if not clock.accepts(millis, server_now):
            raise Invalid(
                f"message {i} is stamped {millis - server_now} ms ahead of the server clock "
                f"(limit {clock.max_drift_ms} ms); correct the clock offset and re-stamp unsent "
                "edits",
                code="clock_drift",
                index=i,
                server_time=server_now,
            )
        out.append(message)
    return out


def _content(message: Message) -> tuple[str, str, str, bytes]:
    return (message.dataset, message.row, message.column, orjson.dumps(message.value))


@dataclass
class SyncService:
    pool: asyncpg.Pool
    writer: TenantWriter
    clock: ServerClock
    owners: NodeOwners
    settings: Settings
    metrics: Metrics

    async def round(
        self, who: Principal, body: SyncRequest, user_agent: str | None = None
    ) -> dict[str, Any]:
        """Apply the pushed messages, then answer the round: the plan, a page of messages,
        the server's root and the caller's conflicts."""
        settings = self.settings
        if len(body.messages) > settings.max_messages_per_request:
            raise TooLarge(
                f"{len(body.messages)} messages in one request; the limit is "
                f"{settings.max_messages_per_request}: send them over several requests",
                code="too_many_messages",
            )
        server_now = self.clock.now_ms()
        pushed = parse_messages(body.messages, body.node, self.clock, server_now)
        check_writes(who, pushed)
        # Decoded before anything is written: a malformed cursor must not leave a stored batch.
        cursor = Cursor.decode(body.cursor) if body.cursor is not None else None

        async with self.pool.acquire() as conn:  # a pool checkout costs no round trip
            await self.owners.claim(conn, who, body.node, user_agent)
        # No connection is held while waiting for the tenant's writer: it needs one of its own.
        try:
            outcome = await self.writer.apply(who.tenant_id, who.user_id, body.node, pushed)
        except TimestampReused as exc:  # say which message of this request it was
            stamps = [m.timestamp for m in pushed]
            exc.details["index"] = stamps.index(exc.details["timestamp"])
            exc.message = f"message {exc.details['index']}: {exc.message}"
            raise
        except EmailTaken as exc:  # the profile email message that collided
            exc.details["index"] = next(
                (
                    i
                    for i, m in enumerate(pushed)
                    if (m.dataset, m.row, m.column) == ("profiles", exc.details["user_id"], "email")
                ),
                None,
            )
            exc.message = f"message {exc.details['index']}: {exc.message}"
            raise
        self.clock.observe((m.timestamp for m in outcome.inserted), server_now)
        self.metrics.counters["messages_received"] += len(pushed)
        self.metrics.counters["messages_inserted"] += len(outcome.inserted)

        response: dict[str, Any] = {"server_time": server_now, "inserted": len(outcome.inserted)}
        pushed_stamps = {m.timestamp for m in pushed}
        async with self.pool.acquire() as conn:
            # The conflicts before the messages: every message a notice names was stored
            # with it, so the pull that follows (this page or the next) brings it too.
            mine, latest = await conflicts.for_user(
                conn, who.tenant_id, who.user_id, body.conflicts_after, CONFLICTS_PAGE
            )
            if cursor is None and body.summary is None:
                # The usual round: the head, the root and the pull in one statement (one
                # snapshot, no transaction).
                pulled, root = await self._pull(
                    conn, who.tenant_id, body.pull_after, pushed_stamps, response
                )
                response.update(send=[], messages=pulled, cursor=None, root=list(root))
            else:
                await self._repair_read(
                    conn, who.tenant_id, body, cursor, pushed, pushed_stamps, response
                )
        response["conflicts"] = mine
        # Everything up to the tenant's latest conflict was either returned or is not
        # this user's, unless the page was cut short by its limit.
        response["conflicts_watermark"] = (
            mine[-1]["seq"] if len(mine) >= CONFLICTS_PAGE else max(body.conflicts_after, latest)
        )
        return response

    async def _repair_read(
        self,
        conn: Conn,
        tenant_id: str,
        body: SyncRequest,
        cursor: Cursor | None,
        pushed: list[Message],
        pushed_stamps: set[str],
        response: dict[str, Any],
    ) -> None:
        """A round with a summary or a cursor: the plan over the server's trie and a page
        of the ranges to send. One snapshot for the root, the head, the pull and the page:
        equal roots then mean the replica holds every message up to `head`."""
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            pull_after = body.pull_after if cursor is None else None
            pulled, root = await self._pull(conn, tenant_id, pull_after, pushed_stamps, response)
            if cursor is not None:
                send_paths, after = cursor.paths, cursor.after
            else:
                assert body.summary is not None  # the usual round is read by `_pull` alone
                summary = Summary(
                    list(body.summary.scopes), [(p, h, c) for p, h, c in body.summary.nodes]
                )
                nodes = await merkle.nodes(conn, tenant_id, paths_needed(summary))
                keys = [timestamp_key(millis_of(m.timestamp)) for m in pushed]
                decided = plan(summary, nodes, keys)
                response.update(push=decided.push, descend=decided.descend)
                send_paths, after = decided.send, ""
            response["send"] = send_paths
            page, next_cursor = await self._page(conn, tenant_id, send_paths, after, pushed_stamps)
            response["messages"] = [*pulled, *page]
            response["cursor"] = next_cursor
            response["root"] = list(root)

    def _bounded(
        self, records: list[asyncpg.Record], pushed: set[str]
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of `records` (read one beyond the page's count, to tell whether more
        follow), bounded by count and bytes, without those pushed in this request (the
        client holds them); and how many records it read, skipped ones included (a page
        may come out short when pushed messages are skipped: the next one goes on from the
        last record read)."""
        settings = self.settings
        page: list[dict[str, Any]] = []
        size = 0
        read = 0
        for record in records[: settings.page_messages]:
            if page and size + record["size"] > settings.page_bytes:
                break
            read += 1
            if record["timestamp"] in pushed:
                continue
            page.append(messages.message_json(record))
            size += record["size"] + 120
        return page, read

    async def _pull(
        self,
        conn: Conn,
        tenant_id: str,
        after: int | None,
        pushed: set[str],
        response: dict[str, Any],
    ) -> tuple[list[dict[str, Any]], tuple[int, int]]:
        """The incremental pull (none when `after` is None): a page of the messages after
        the replica's watermark, in sequence order, and the root, read in one statement.
        Sets the answer's `head` and `pulled_through`: where the next pull continues,
        `head` once everything came (also when the watermark is past it, as after a
        database restore, so the replica follows the server back)."""
        limit = self.settings.page_messages + 1 if after is not None else 0
        head, root, records = await messages.pull_with_root(conn, tenant_id, after or 0, limit)
        response["head"] = head
        if after is None:
            return [], root
        if after >= head:
            response["pulled_through"] = head
            return [], root
        page, read = self._bounded(records, pushed)
        # Everything after the watermark came, or the next pull goes on after the last read.
        response["pulled_through"] = head if read == len(records) else int(records[read - 1]["seq"])
        return page, root

    async def _page(
        self, conn: Conn, tenant_id: str, paths: list[str], after: str, pushed: set[str]
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the messages in `paths` after the cursor `after`. Nothing but what
        this request pushed is left out: what a node pushed earlier comes back like
        anyone's, so a replica that lost its own messages still gets them."""
        if not paths:
            return [], None
        limit = self.settings.page_messages + 1
        records = await messages.in_paths(conn, tenant_id, paths, after, limit)
        page, read = self._bounded(records, pushed)
        if read < len(records):
            return page, Cursor(paths=paths, after=records[read - 1]["timestamp"]).encode()
        return page, None
