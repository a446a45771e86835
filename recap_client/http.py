"""The sync loop over HTTP: push the outbox, reconcile by merkle ranges, page, bootstrap.

Each next round is decided by `crdt.rounds.next_round`, the step `crdt.loopback` and the
browser engine run too; this module does the requests around it.
"""

from __future__ import annotations

import asyncio
import gc
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import hdrs

from crdt.merkle import key_range
from crdt.message import Message
from crdt.reconcile import Summary, frontier, refine
from crdt.rounds import MAX_ROUNDS, Answer, Done, Local, next_round

from .replica import ClientReplica


class SyncError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


#: The sync protocol version this client speaks (sync_server.protocol.PROTOCOL_VERSIONS).
PROTOCOL = "2"

#: A push request's approximate size bound (the server refuses bodies over 8 MiB).
PUSH_BYTES = 2 * 1024 * 1024


def _approx_size(m: Message) -> int:
    return 160 + (len(m.value) if isinstance(m.value, str) else 16)


def chunk(messages: list[Message], limit: int, max_bytes: int = PUSH_BYTES) -> list[list[Message]]:
    """Split messages into request-sized chunks, by count and by approximate bytes (as the
    browser's engine does: `chunk` in frontend/src/engine/sync.ts)."""
    out: list[list[Message]] = []
    current: list[Message] = []
    size = 0
    for m in messages:
        s = _approx_size(m)
        if current and (len(current) >= limit or size + s > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(m)
        size += s
    if current:
        out.append(current)
    return out


@dataclass(frozen=True)
class Reply:
    """One HTTP answer as the sync loop reads it."""

    status: int
    #: the body, decoded from gzip
    body: bytes
    #: the body's size on the wire (compressed when the server compressed it)
    wire_bytes: int


#: Performs one request: (method, path with its query, headers, body or None) -> the answer.
#: The default sends it with the client's aiohttp session; the recorded exchanges
#: (tests/vectors/exchanges.json) are made and replayed through this seam.
Transport = Callable[[str, str, dict[str, str], bytes | None], Awaitable[Reply]]


@dataclass
class SyncReport:
    requests: int = 0
    rounds: int = 0
    pushed: int = 0
    received: int = 0
    bytes_sent: int = 0
    #: as sent on the wire (gzipped when the server compressed the answer)
    bytes_received: int = 0
    summary_nodes: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    #: other nodes' messages this replica holds and the server lacks (crdt/rounds.py)
    unrepaired: int = 0


class SyncClient:
    def __init__(
        self,
        base_url: str,
        replica: ClientReplica,
        session: aiohttp.ClientSession | None,
        token: str | None = None,
        push_limit: int = 10_000,
        pull: bool = True,
        transport: Transport | None = None,
    ) -> None:
        """`pull=False` skips the incremental pull and reconciles ranges from the first
        round (what every sync did before it; the benchmark compares the two). Requests go
        through `transport` when given (no session needed), else through `session`."""
        if transport is None and session is None:
            raise ValueError("a session or a transport")
        self.base_url = base_url.rstrip("/")
        self.replica = replica
        self.session = session
        self.token = token
        self.push_limit = push_limit
        self.pull = pull
        self.transport: Transport = transport or self._send

    async def login(self, email: str, password: str) -> dict[str, Any]:
        body = await self._post("/auth/login", {"email": email, "password": password}, None)
        self.token = body["token"]
        return body  # type: ignore[no-any-return]

    def _headers(self) -> dict[str, str]:
        """Every request asks for gzip: the server compresses `/sync` and `/snapshot`
        answers (JSON that shrinks several times). Said explicitly rather than left to
        aiohttp's default, which is the same today but is aiohttp's to change."""
        headers: dict[str, str] = {hdrs.ACCEPT_ENCODING: "gzip", "Recap-Protocol": PROTOCOL}
        if self.token:
            headers[hdrs.AUTHORIZATION] = f"Bearer {self.token}"
        return headers

    async def _send(
        self, method: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> Reply:
        """The default transport: the request over the session. The answer is decoded from
        gzip whatever the session: aiohttp does it unless the session was made with
        `auto_decompress=False`, then we do; `wire_bytes` is the compressed body's
        `Content-Length`."""
        try:
            return await self._send_once(method, path, headers, data)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            # A kept-alive connection the server closed while it sat idle (after its idle
            # timeout; a client busy adopting a snapshot can leave it that long) fails at
            # its next use before any answer: "Server disconnected", or "Can not write
            # request body" when the reset comes first. Every request of the protocol may
            # be sent again (a push is idempotent), so once more on a new connection, as
            # browsers do.
            return await self._send_once(method, path, headers, data)

    async def _send_once(
        self, method: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> Reply:
        session = self.session
        assert session is not None  # __init__: no transport without a session
        async with session.request(
            method, self.base_url + path, data=data, headers=headers
        ) as resp:
            raw = await resp.read()
            wire = resp.content_length if resp.content_length is not None else len(raw)
            if not session.auto_decompress and resp.headers.get(hdrs.CONTENT_ENCODING) == "gzip":
                raw = zlib.decompress(raw, wbits=31)
            return Reply(resp.status, raw, wire)

    async def _call(self, method: str, path: str, payload: Any, report: SyncReport | None) -> Any:
        """One request's JSON answer; the report counts the bytes on the wire."""
        headers = self._headers()
        data = None
        if method == "POST":
            data = orjson.dumps(payload)
            headers[hdrs.CONTENT_TYPE] = "application/json"
            if report is not None:
                report.bytes_sent += len(data)
        reply = await self.transport(method, path, headers, data)
        if report is not None:
            report.requests += 1
            report.bytes_received += reply.wire_bytes
        body = orjson.loads(reply.body) if reply.body else None
        if reply.status != 200:
            raise SyncError(reply.status, body)
        return body

    async def _post(self, path: str, payload: Any, report: SyncReport | None) -> Any:
        return await self._call("POST", path, payload, report)

    async def _get(self, path: str, report: SyncReport | None) -> Any:
        return await self._call("GET", path, None, report)

    async def sync(self) -> SyncReport:
        """Run rounds until this replica and the server hold the same messages: the I/O
        around `crdt.rounds.next_round`, which decides each next round."""
        started = time.perf_counter()
        report = SyncReport()
        replica = self.replica
        # The usual sync is one request: the outbox and the watermark go up, everything
        # after the watermark comes back (in pages, for a long absence) with the server's
        # root; equal roots: done. Else the range reconciliation below repairs the rest.
        if self.pull:
            pushed = self._outbox_page()
            report.rounds += 1
            body = await self._round(pushed, None, report)
            report.pushed += len(pushed)
            self._take(body, set(), report)
            while body.get("pulled_through", body["head"]) < body["head"]:
                body = await self._post("/sync", self._pull_request(), report)
                self._take(body, set(), report)
            if not replica.outbox and (replica.trie.get("") or (0, 0)) == tuple(body["root"]):
                replica.save()
                report.seconds = time.perf_counter() - started
                return report
        summary: Summary = frontier(replica.trie)
        pushed = self._outbox_page()
        while True:
            report.rounds += 1
            if report.rounds > MAX_ROUNDS:
                raise RuntimeError(f"no convergence after {MAX_ROUNDS} rounds")
            report.summary_nodes += len(summary.nodes)
            body = await self._round(pushed, summary, report)
            report.pushed += len(pushed)
            received: set[str] = set()
            self._take(body, received, report)
            while body.get("cursor"):
                body_next = await self._post(
                    "/sync",
                    {
                        "node": replica.node,
                        "cursor": body["cursor"],
                        "conflicts_after": replica.conflicts_after,
                    },
                    report,
                )
                self._take(body_next, received, report)
                body = {**body, "cursor": body_next.get("cursor")}
            answer = Answer(
                send=body.get("send") or [],
                push=body.get("push") or [],
                descend=body.get("descend") or [],
                root=(body["root"][0], body["root"][1]),
                held=received | {m.timestamp for m in pushed},
            )
            local = Local(
                root=replica.trie.get("") or (0, 0),
                in_send=[m for p in answer.send for m in replica.messages_in(*key_range(p))],
                in_push=[m for p in answer.push for m in replica.messages_in(*key_range(p))],
                outbox=self._outbox_page(),
            )
            following = next_round(answer, local, replica.node)
            if isinstance(following, Done):
                report.unrepaired = len(following.unrepaired)
                if not following.unrepaired:  # equal roots: everything up to head is here
                    replica.pulled_through = max(replica.pulled_through, body["head"])
                replica.save()
                report.seconds = time.perf_counter() - started
                return report
            pushed = following.push
            descend = following.descend
            summary = refine(replica.trie, descend) if descend else frontier(replica.trie)

    def _pull_request(self, messages: list[Message] | None = None) -> dict[str, Any]:
        return {
            "node": self.replica.node,
            "messages": [m.to_json() for m in messages or []],
            "pull_after": self.replica.pulled_through,
            "conflicts_after": self.replica.conflicts_after,
        }

    def _outbox_page(self) -> list[Message]:
        return sorted(self.replica.outbox.values(), key=lambda m: m.timestamp)[: self.push_limit]

    async def _round(
        self, pushed: list[Message], summary: Summary | None, report: SyncReport
    ) -> dict[str, Any]:
        """One round: `pushed` beyond one request's limit goes first in push-only requests,
        the rest with the summary. The server refuses a request whole, so its edits are
        still unseen when it answers `422 clock_drift` (our clock is ahead of the
        server's: learn the offset) or `409 timestamp_reused` (one of our stamps names
        another message already: move the clock past it); then re-stamp the edits no one
        has seen and redo the round once with them (and the frontier)."""
        try:
            return await self._round_once(pushed, summary, report)
        except SyncError as exc:
            if exc.code not in ("clock_drift", "timestamp_reused"):
                raise
            replica = self.replica
            if exc.code == "clock_drift":
                replica.offset_ms = exc.body["server_time"] - replica.physical_ms()
            replica.restamp_outbox(after=exc.body.get("timestamp"))
            pushed[:] = self._outbox_page()
            return await self._round_once(
                pushed, frontier(replica.trie) if summary is not None else None, report
            )

    async def _round_once(
        self, pushed: list[Message], summary: Summary | None, report: SyncReport
    ) -> dict[str, Any]:
        """One round's requests; with no summary, the last is the incremental pull."""
        replica = self.replica
        chunks = chunk(pushed, self.push_limit)
        last = chunks.pop() if chunks else []
        for part in chunks:
            payload = {
                "node": replica.node,
                "messages": [m.to_json() for m in part],
                "conflicts_after": replica.conflicts_after,
            }
            await self._post("/sync", payload, report)
            for m in part:
                replica.outbox.pop(m.timestamp, None)
        if summary is None:
            payload = self._pull_request(last)
        else:
            payload = {
                "node": replica.node,
                "messages": [m.to_json() for m in last],
                "summary": {"scopes": summary.scopes, "nodes": summary.nodes},
                "conflicts_after": replica.conflicts_after,
            }
        body: dict[str, Any] = await self._post("/sync", payload, report)
        replica.offset_ms = self._offset(body["server_time"])
        for m in last:
            replica.outbox.pop(m.timestamp, None)
        return body

    def _offset(self, server_time: int) -> int:
        """Follow the server's clock when ours is off by more than a second."""
        local = self.replica.physical_ms()
        drift = server_time - local
        return drift if abs(drift) > 1000 else 0

    def _take(self, body: dict[str, Any], received: set[str], report: SyncReport) -> None:
        items = body.get("messages") or []
        if items:
            self.replica.receive_remote(items)
            received.update(i["timestamp"] for i in items)
            report.received += len(items)
        for conflict in body.get("conflicts") or []:
            self.replica.conflicts.append(conflict)
            # `seq`: the notice's place in the feed (a state change moves it up)
            position = conflict.get("seq", conflict["id"])
            self.replica.conflicts_after = max(self.replica.conflicts_after, position)
            report.conflicts.append(conflict)
        through = body.get("pulled_through")
        if isinstance(through, int):
            self.replica.pulled_through = through
        watermark = body.get("conflicts_watermark")
        if isinstance(watermark, int):
            self.replica.conflicts_after = max(self.replica.conflicts_after, watermark)

    async def bootstrap(self, progress: Any = None, node: str | None = None) -> SyncReport:
        """A new device: the snapshot instead of the history, then a normal sync, under a
        fresh node id (a new replica never reuses one: DESIGN.md, "Node ids"): `node`, or a
        random one (the recorded exchanges pin it).

        The cyclic garbage collector is paused meanwhile: a bootstrap builds millions of
        containers (parsed pages, registers, trie nodes) that all stay alive, and the
        collector would rescan them again and again (at 1M messages it doubled the time to
        parse the pages and build the trie, measured)."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return await self._bootstrap(progress, node)
        finally:
            if paused:
                gc.enable()

    async def _bootstrap(self, progress: Any, node: str | None) -> SyncReport:
        started = time.perf_counter()
        self.replica.renew_node(node)
        report = SyncReport()
        body = await self._get("/snapshot", report)
        total = body.get("total_rows") or 0
        done_rows = 0
        late: list[dict[str, Any]] = []  # messages since the first page, before the last
        while not body["done"]:
            if "dataset" not in body:  # a page of late messages: applied with the trie
                late += body["messages"]
                body = await self._get(f"/snapshot?cursor={body['cursor']}", report)
                continue
            # The next page is asked for first and the current one adopted in a thread, so
            # the server's work on the next page (PostgreSQL builds it) overlaps ours. Safe
            # because nothing else touches this replica until the bootstrap returns.
            following = asyncio.create_task(self._get(f"/snapshot?cursor={body['cursor']}", report))
            await asyncio.sleep(0)  # the request starts before the adopting thread does
            try:
                await asyncio.to_thread(
                    self.replica.adopt_snapshot_rows, body["dataset"], body["columns"], body["rows"]
                )
            except BaseException:
                following.cancel()
                raise
            done_rows += len(body["rows"])
            if progress is not None:
                progress(done_rows, total)
            body = await following
        self.replica.adopt_snapshot_trie(body["trie"], body["seq"])
        self.replica.receive_remote(late + body["messages"])
        # The conflicts feed starts where the snapshot was taken: a new device does not
        # replay its user's past notices (PROTOCOL.md, "Bootstrap").
        self.replica.conflicts_after = max(
            self.replica.conflicts_after, int(body.get("conflicts_after", 0))
        )
        # The late messages are every one after the snapshot's sequence, up to the last.
        newest = max((m.get("seq", 0) for m in late + body["messages"]), default=0)
        self.replica.pulled_through = max(self.replica.pulled_through, newest)
        tail = await self.sync()
        report.requests += tail.requests
        report.bytes_received += tail.bytes_received
        report.bytes_sent += tail.bytes_sent
        report.conflicts += tail.conflicts
        report.seconds = time.perf_counter() - started
        return report
