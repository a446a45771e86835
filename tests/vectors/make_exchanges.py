"""Write tests/vectors/exchanges.json: the sync protocol's cases as HTTP exchanges recorded
from the real server, which both clients' tests replay (tests/crdt/test_exchanges.py,
frontend/tests/exchanges.test.ts):

    python -m tests.vectors.make_exchanges

It creates a scratch database on PostgreSQL (DATABASE_URL, else 127.0.0.1:5432), migrates
it, serves the real app on a loopback socket, and drives `recap_client` through each
scenario, one tenant per scenario, recording every request the recorded device makes and
the answer it got, through `SyncClient.transport`. What the client decides is pinned (node
ids, row ids, its physical clock), so the requests are a function of the scenario and of
what the server answered; what the server decides (server_time, seq, hashes, conflict ids,
user ids) is stored as it came. The database is dropped at the end.

Not run by CI: the committed JSON is the vector. Re-run after a protocol change, and commit
the result only when the change is intended (the replay tests fail while a client and the
file disagree).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import orjson
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from crdt.message import Message  # noqa: E402
from recap_client import ClientReplica, SyncClient, SyncError  # noqa: E402
from recap_client.http import Reply, Transport  # noqa: E402
from sync_server import database, protocol  # noqa: E402
from sync_server.app import create_app  # noqa: E402
from sync_server.settings import Settings  # noqa: E402

OUT = Path(__file__).with_name("exchanges.json")
PG = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

#: What stands for the session token in recorded headers (a token is the server's secret of
#: the moment); the replaying clients are given it as their token.
TOKEN = "recorded-session-token"
#: The headers a recording keeps: the ones the protocol names (the rest, such as
#: Accept-Encoding, are the HTTP library's business and differ between clients).
HEADERS = ("Recap-Protocol", "Content-Type", "Authorization")


def _ms(iso: str) -> int:
    return int(datetime.datetime.fromisoformat(iso).timestamp() * 1000)


#: The recorded devices' physical clock: a fixed instant in the past (past stamps are valid;
#: the first answer teaches the device its offset to the server's clock).
T0 = _ms("2026-11-30T09:00:00+00:00")
MINUTE = 60_000
DAY = 86_400_000

FORMAT = """\
One scenario per protocol case, each recorded from the real server (tests/vectors/\
make_exchanges.py) and replayed by the clients it names (tests/crdt/test_exchanges.py, \
frontend/tests/exchanges.test.ts).
scenario: {name, what, clients, initial, steps, root}. clients: which clients replay it \
("python": recap_client, "browser": frontend/src/engine/sync.ts): both, except where their \
requests legitimately differ, which has one scenario per client, each recorded against the \
real server: paged_pull (recap_client sends `messages: []` in a pull's continuation) and \
paged_pull_browser (the browser sends no `messages` key there); PROTOCOL.md section 3 allows \
both, and the server answers them alike. paged_pull_browser was recorded by recap_client \
sending the browser's shape (make_exchanges.BrowserShaped); the browser's replay checks that \
the shape is its own.
initial: the recorded device before the first step: node (its node id), now (its physical \
clock in epoch ms, constant for the whole scenario), clock (its HLC's last timestamp), \
offset_ms (its offset to the server's clock), pulled_through, conflicts_after, messages (the \
messages it holds, all acknowledged: its outbox is empty; apply them, then set the clock). \
steps, in order: {do: "edit", changes: [{dataset, row, column, value}], messages: [what the \
edit stamped]} | {do: "sync" | "bootstrap", node?: (bootstrap: the new node id), exchanges, \
error?: {status, code} (the step ends with this refusal)}.
exchange: {method, path (with its query), headers (only Recap-Protocol, Content-Type and \
Authorization, whose token is the placeholder in `token`), body (the request's JSON, null \
for a GET), status, response (the answer's JSON, decompressed)}.
A replaying client serves the responses in order and checks that each request it makes has \
exactly the method, path, headers and body recorded (JSON compared as values, no field \
normalized); after the last step nothing is left unserved, and its trie root equals `root` \
(the root of the last successful /sync answer), unless the scenario ends with an error.
Scenario unsupported_protocol was recorded against the real server with its spoken \
versions set to (3,): a server that no longer speaks the clients' version 2.\
"""


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class Recorder:
    """A transport that sends through another and records each exchange."""

    def __init__(self, inner: Transport, token: str) -> None:
        self.inner = inner
        self.token = token
        self.exchanges: list[dict[str, Any]] = []

    async def __call__(
        self, method: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> Reply:
        reply = await self.inner(method, path, headers, data)
        kept = {k: headers[k].replace(self.token, TOKEN) for k in HEADERS if k in headers}
        self.exchanges.append(
            {
                "method": method,
                "path": path,
                "headers": kept,
                "body": orjson.loads(data) if data else None,
                "status": reply.status,
                "response": orjson.loads(reply.body) if reply.body else None,
            }
        )
        return reply

    def take(self) -> list[dict[str, Any]]:
        out, self.exchanges = self.exchanges, []
        return out


class BrowserShaped(SyncClient):
    """recap_client sending the browser's requests where they differ
    (frontend/src/engine/sync.ts): a pull's continuation carries no `messages` key. Only to
    record the browser's scenarios; their replay in the browser's engine checks the shape."""

    def _pull_request(self, messages: list[Message] | None = None) -> dict[str, Any]:
        body = super()._pull_request(messages)
        if messages is None:  # the continuation (the first request passes its outbox page)
            del body["messages"]
        return body


class World:
    """The running servers (the second pages pulls by 3 messages), and how the scenarios
    make tenants and devices on them."""

    def __init__(self, url: str, paged_url: str, db_url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.paged_url = paged_url
        self.db_url = db_url
        self.http = http

    async def tenant(self, name: str, users: tuple[str, ...]) -> dict[str, str]:
        """A tenant whose users are reps; their session tokens by name (as tests/conftest.py
        make_tenant)."""
        from seed import create_tenant

        conn = await asyncpg.connect(self.db_url)
        suffix = secrets.token_hex(3)
        spec = [(f"{u}-{suffix}@example.com", u.title(), "pw-" + u, "rep") for u in users]
        try:
            await create_tenant(conn, name, spec)
        finally:
            await conn.close()
        tokens = {}
        for (email, _, password, _), user in zip(spec, users, strict=True):
            async with self.http.post(
                self.url + "/auth/login", json={"email": email, "password": password}
            ) as resp:
                assert resp.status == 200, await resp.text()
                tokens[user] = (await resp.json())["token"]
        return tokens

    def device(self, token: str, node: str, now: Callable[[], int]) -> SyncClient:
        return SyncClient(self.url, ClientReplica(node, now=now), self.http, token)

    def recorded(
        self, token: str, node: str, now: int, *, url: str | None = None, browser: bool = False
    ) -> tuple[SyncClient, Recorder]:
        shape = BrowserShaped if browser else SyncClient
        client = shape(url or self.url, ClientReplica(node, now=lambda: now), self.http, token)
        recorder = Recorder(client.transport, token)
        client.transport = recorder
        return client, recorder


def initial(client: SyncClient) -> dict[str, Any]:
    """The recorded device's state, as a replay rebuilds it (see FORMAT)."""
    r = client.replica
    assert not r.outbox, "a scenario starts with an empty outbox"
    return {
        "node": r.node,
        "now": r.physical_ms(),
        "clock": str(r.clock.last),
        "offset_ms": r.offset_ms,
        "pulled_through": r.pulled_through,
        "conflicts_after": r.conflicts_after,
        "messages": [r.log[ts].to_json() for ts in sorted(r.log)],
    }


def edit(client: SyncClient, changes: list[tuple[str, str, str, Any]]) -> dict[str, Any]:
    made = [client.replica.edit_field(*c) for c in changes]
    return {
        "do": "edit",
        "changes": [{"dataset": d, "row": r, "column": c, "value": v} for d, r, c, v in changes],
        "messages": [m.to_json() for m in made],
    }


async def sync(client: SyncClient, recorder: Recorder) -> dict[str, Any]:
    await client.sync()
    return {"do": "sync", "exchanges": recorder.take()}


def last_root(steps: list[dict[str, Any]]) -> list[int]:
    answers = [
        e["response"]
        for s in steps
        for e in s.get("exchanges", [])
        if e["path"] == "/sync" and e["status"] == 200
    ]
    return list(answers[-1]["root"])


BOTH = ["python", "browser"]


def scenario(
    name: str,
    what: str,
    start: dict[str, Any],
    steps: list[dict[str, Any]],
    client: SyncClient,
    clients: list[str] = BOTH,
) -> dict[str, Any]:
    root = last_root(steps)
    assert tuple(root) == client.replica.trie.get(""), f"{name}: the device is not in sync"
    return {
        "name": name,
        "what": what,
        "clients": clients,
        "initial": start,
        "steps": steps,
        "root": root,
    }


def row(n: int) -> str:
    """A fixed row id (a version-4-shaped UUID), so requests do not depend on the run."""
    return f"00000000-0000-4000-8000-{n:012d}"


def product(n: int, name: str) -> list[tuple[str, str, str, Any]]:
    return [("products", row(n), "name", name), ("products", row(n), "sku", f"SKU-{n}")]


# -- the scenarios --------------------------------------------------------------------


async def new_device(world: World) -> dict[str, Any]:
    tokens = await world.tenant("Exchanges A", ("alice", "bob"))
    writer = world.device(tokens["alice"], "a000000000000001", lambda: T0)
    for n in range(1, 4):
        for c in product(n, f"Product {n}"):
            writer.replica.edit_field(*c)
    await writer.sync()
    # Python renews an empty replica's node at a bootstrap; a browser made its node when it
    # opened its database. The same node either way: the one the bootstrap step names.
    device, recorder = world.recorded(tokens["bob"], "b000000000000002", T0)
    start = initial(device)
    await device.bootstrap(node="b000000000000002")
    steps: list[dict[str, Any]] = [
        {"do": "bootstrap", "node": device.replica.node, "exchanges": recorder.take()}
    ]
    steps.append(await sync(device, recorder))
    assert [e["method"] for e in steps[1]["exchanges"]] == ["POST"], "the second sync is one pull"
    return scenario(
        "new_device",
        "A new device bootstraps from /snapshot (pages of rows, then the closing page with the "
        "trie at `seq`), runs its first sync from the snapshot's seq, then an incremental sync "
        "with nothing new: one request, equal roots.",
        start,
        steps,
        device,
    )


async def push_and_pull(world: World) -> dict[str, Any]:
    tokens = await world.tenant("Exchanges B", ("alice", "bob"))
    other = world.device(tokens["bob"], "b000000000000003", lambda: T0 + MINUTE)
    for c in product(1, "Flour") + product(2, "Sugar"):
        other.replica.edit_field(*c)
    await other.sync()
    device, recorder = world.recorded(tokens["alice"], "a000000000000003", T0)
    await device.sync()
    recorder.take()
    start = initial(device)
    for c in product(3, "Salt"):
        other.replica.edit_field(*c)
    await other.sync()
    steps = [edit(device, [("products", row(1), "name", "Rye flour")])]
    steps.append(await sync(device, recorder))
    [exchange] = steps[1]["exchanges"]
    assert exchange["response"]["messages"], "the pull brings the other device's edits"
    return scenario(
        "push_and_pull",
        "A synced device renames a product (an edit with `prev`) while another device added "
        "one: one request pushes the edit and pulls the other's messages; the roots are equal, "
        "the sync is over.",
        start,
        steps,
        device,
    )


async def repair(world: World) -> dict[str, Any]:
    tokens = await world.tenant("Exchanges C", ("alice", "bob"))
    old = T0 - 3 * DAY
    tick = {"n": 0}

    def writer_clock() -> int:
        tick["n"] += 1
        return old + tick["n"] * MINUTE  # one edit a minute: the old range spans many minutes

    writer = world.device(tokens["alice"], "a000000000000004", writer_clock)
    for n in range(1, 81):
        writer.replica.edit_field("products", row(n), "name", f"Item {n}")
    writer.replica.physical_ms = lambda: T0  # days later
    for c in product(100, "Recent"):
        writer.replica.edit_field(*c)
    await writer.sync()
    # The device: every message the server holds but two old ones (an earlier sync cut off
    # mid-repair), and an old edit of its own the server lost (restored from a backup).
    device, recorder = world.recorded(tokens["bob"], "b000000000000004", T0)
    held = sorted(writer.replica.log.values(), key=lambda m: m.timestamp)
    lacking = {held[20].timestamp, held[21].timestamp}
    mine = ClientReplica("b000000000000004", now=lambda: old + 30 * MINUTE + 30_000)
    lost = mine.edit_field("products", row(30), "name", "Item 30 (renamed)")
    device.replica.apply([m for m in held if m.timestamp not in lacking] + [lost])
    device.replica.clock = mine.clock
    device.replica.receive_remote([held[-1].to_json()])  # its clock past what it holds
    device.replica.pulled_through = writer.replica.pulled_through
    start = initial(device)
    steps = [await sync(device, recorder)]
    answers = [e["response"] for e in steps[0]["exchanges"]]
    assert any(a.get("descend") for a in answers), "the repair descends"
    assert any(lost.to_json() in e["body"].get("messages", []) for e in steps[0]["exchanges"])
    return scenario(
        "repair",
        "A device whose trie differs from the server's in an old range: it lacks two of another "
        "device's messages and holds an old edit of its own the server lost. The pull brings "
        "nothing and the roots differ; the reconciliation starts from the frontier, descends "
        "into the range, receives what it lacks, pushes its lost edit, and ends with equal "
        "roots.",
        start,
        steps,
        device,
    )


async def conflict(world: World) -> dict[str, Any]:
    tokens = await world.tenant("Exchanges D", ("alice", "bob"))
    flow = row(1)
    device, recorder = world.recorded(tokens["alice"], "a000000000000005", T0)
    winner = world.device(tokens["bob"], "b000000000000005", lambda: T0)
    device.replica.edit_row("pre_order_flows", flow, {"quantity": 1, "weight": 2.5})
    await device.sync()
    await winner.sync()
    recorder.take()
    start = initial(device)
    steps = [edit(device, [("pre_order_flows", flow, "quantity", 2)])]
    steps.append(await sync(device, recorder))
    await asyncio.sleep(0.01)
    winner.replica.edit_field("pre_order_flows", flow, "quantity", 3)  # later, not having seen 2
    await winner.sync()
    steps.append(await sync(device, recorder))
    steps.append(await sync(device, recorder))
    [pulled] = steps[2]["exchanges"]
    notices = pulled["response"]["conflicts"]
    assert [(c["kind"], c["yours"]) for c in notices] == [("overwrote", "loser")], notices
    return scenario(
        "conflict",
        "Two devices of two reps edit the same field. The device recorded pushes quantity 2; "
        "the other, not having seen it, sets 3 later and wins. The recorded device's next sync "
        "pulls the winning message with its conflict notice (kind overwrote, yours: loser) and "
        "the feed's watermark; the sync after sends that watermark as conflicts_after.",
        start,
        steps,
        device,
    )


async def clock_drift(world: World) -> dict[str, Any]:
    tokens = await world.tenant("Exchanges E", ("alice",))
    # The device's clock is three hours ahead of the server's (on the minute).
    ahead = (int(time.time() * 1000) // MINUTE) * MINUTE + 3 * 3_600_000
    device, recorder = world.recorded(tokens["alice"], "a000000000000006", ahead)
    start = initial(device)
    steps = [edit(device, product(1, "Early bird"))]
    steps.append(await sync(device, recorder))
    statuses = [(e["status"], (e["response"] or {}).get("code")) for e in steps[1]["exchanges"]]
    assert statuses == [(422, "clock_drift"), (200, None)], statuses
    return scenario(
        "clock_drift",
        "A device whose clock is three hours ahead pushes two edits: 422 clock_drift with "
        "server_time. It adopts offset = server_time - now, re-stamps the unsent edits from a "
        "clock reset to what it holds, and retries once; the server takes them.",
        start,
        steps,
        device,
    )


async def unsupported_protocol(world: World) -> dict[str, Any]:
    tokens = await world.tenant("Exchanges F", ("alice",))
    device, recorder = world.recorded(tokens["alice"], "a000000000000007", T0)
    start = initial(device)
    steps = [edit(device, product(1, "Kept"))]
    with mock.patch.object(protocol, "PROTOCOL_VERSIONS", (3,)):
        try:
            await device.sync()
        except SyncError as exc:
            error = {"status": exc.status, "code": exc.code}
        else:
            raise AssertionError("the server took a version it does not speak")
    steps.append({"do": "sync", "exchanges": recorder.take(), "error": error})
    assert error == {"status": 400, "code": "unsupported_protocol"}, error
    assert len(steps[1]["exchanges"]) == 1 and device.replica.outbox
    return {
        "name": "unsupported_protocol",
        "clients": BOTH,
        "what": "A server that does not speak the client's protocol version answers its first "
        "request 400 unsupported_protocol with the versions it speaks. The client stops: no "
        "retry, the edit stays in the outbox (the app tells the user to update).",
        "initial": start,
        "steps": steps,
        "root": None,
    }


async def paged_pull(world: World, browser: bool) -> dict[str, Any]:
    tokens = await world.tenant("Exchanges G" if browser else "Exchanges H", ("alice", "bob"))
    writer = world.device(tokens["alice"], "a000000000000008", lambda: T0)
    for n in range(1, 5):
        for c in product(n, f"Paged {n}"):
            writer.replica.edit_field(*c)
    await writer.sync()
    node = "b000000000000009" if browser else "b000000000000008"
    device, recorder = world.recorded(tokens["bob"], node, T0, url=world.paged_url, browser=browser)
    start = initial(device)
    steps = [await sync(device, recorder)]
    assert len(steps[0]["exchanges"]) == 3, "8 messages in pages of 3"
    who = "the browser, whose" if browser else "recap_client, whose"
    return scenario(
        "paged_pull_browser" if browser else "paged_pull",
        "A device that has never synced pulls 8 messages from a server that pages pulls by 3: "
        "it follows `pulled_through` while it is below `head`, then compares roots. Recorded "
        f"for {who} continuation requests differ (see format).",
        start,
        steps,
        device,
        ["browser"] if browser else ["python"],
    )


async def paged_pull_python(world: World) -> dict[str, Any]:
    return await paged_pull(world, browser=False)


async def paged_pull_browser(world: World) -> dict[str, Any]:
    return await paged_pull(world, browser=True)


SCENARIOS = [
    new_device,
    push_and_pull,
    repair,
    conflict,
    clock_drift,
    unsupported_protocol,
    paged_pull_python,
    paged_pull_browser,
]


async def record() -> dict[str, Any]:
    name = f"recap_exchanges_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    db_url = with_database(PG, name)
    try:
        database.migrate(db_url)
        with tempfile.TemporaryDirectory(prefix="recap-exchanges-") as tmp:
            settings = Settings.model_validate(
                {
                    "database_url": db_url,
                    "data_dir": Path(tmp),
                    "token_secret": secrets.token_hex(16),
                    "log_requests": False,
                    "static_dir": None,
                    "rate_per_s": 10_000.0,
                    "rate_burst": 10_000,
                    "airtable_poll_s": 0,
                }
            )
            server = TestServer(create_app(settings), host="127.0.0.1")
            paged = settings.model_copy(update={"page_messages": 3})
            paged_server = TestServer(create_app(paged), host="127.0.0.1")
            await server.start_server()
            await paged_server.start_server()
            try:
                async with aiohttp.ClientSession() as http:
                    url, paged_url = (
                        str(s.make_url("")).rstrip("/") for s in (server, paged_server)
                    )
                    world = World(url, paged_url, db_url, http)
                    recorded = [await make(world) for make in SCENARIOS]
            finally:
                await paged_server.close()
                await server.close()
    finally:
        conn = await asyncpg.connect(PG)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    return {
        "generator": "tests/vectors/make_exchanges.py",
        "format": FORMAT,
        "token": TOKEN,
        "scenarios": recorded,
    }


if __name__ == "__main__":
    data = asyncio.run(record())
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
