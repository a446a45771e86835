"""The real Actual Budget sync server as the benchmark's peer (issue 16).

`@actual-app/sync-server` (pinned in bench/actual/package-lock.json) runs as its own Node
process on a free loopback port with its data in a temporary directory; the benchmark
bootstraps its password and logs in; each workload uploads its own budget file in sync
format 2, as the real client does before its first /sync. Replicas live in one Node process
(bench/actual/client.mjs) built on `@actual-app/crdt`: its Timestamp, merkle and protobuf
code, and the real client's full-sync loop (send everything since the last sync, compare
the server's pruned merkle with `diff`, resend since the divergence, give up after 10
passes at the same divergence). This module drives it over stdin/stdout, one JSON object
per line, so many replicas can sync at once.

Each replica connects from its own loopback address (127.1.x.y), as each device has its own:
the server limits an IP address to 500 requests a minute, which 200 reps behind one address
hit within a minute (the first full run lost 71% of Actual's steady-state syncs to 429s).
Bytes are counted as Recap's client counts them: request and response bodies (Actual's
server does not compress). Replaces bench/reference_server.py, Recap's own model of this
server, which overstated Actual's costs.

    async with ActualPeer() as actual:
        budget = await actual.budget("steady")
        await actual.replica("a", budget)
        await actual.stamp("a", [{"dataset": ..., "row": ..., "column": ..., "value": ...}])
        report = await actual.sync("a")
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from crdt.message import Message

from .harness import free_port, process_cpu_seconds

PACKAGE = Path(__file__).resolve().parent / "actual"
SERVER_BIN = PACKAGE / "node_modules" / "@actual-app" / "sync-server" / "build" / "bin"
INSTALLED = PACKAGE / "node_modules" / ".installed"
#: Messages per seeding request: about 8 MB of protobuf, under the server's 20 MB limit.
PUSH_BATCH = 50_000


def ensure_installed() -> None:
    """`npm ci` the pinned peer once (a benchmark dependency, never a test one)."""
    lock = PACKAGE / "package-lock.json"
    if INSTALLED.exists() and INSTALLED.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(
        ["npm", "ci", "--prefix", str(PACKAGE), "--no-audit", "--no-fund", "--loglevel=error"],
        check=True,
    )
    INSTALLED.touch()


def wire(m: Message) -> dict[str, Any]:
    """A message as Actual's client holds it (no `prev`: Actual has no such field)."""
    return {
        "dataset": m.dataset,
        "row": m.row,
        "column": m.column,
        "value": m.value,
        "timestamp": m.timestamp,
    }


@dataclass
class ActualReport:
    requests: int
    bytes_sent: int
    bytes_received: int
    seconds: float
    converged: bool
    failure: str | None
    lacked: list[Message] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return self.bytes_sent + self.bytes_received


class ActualPeer:
    def __init__(self) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._client: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._rids = itertools.count(1)
        self.port = 0
        self.url = ""
        self.log_path = ""

    async def __aenter__(self) -> ActualPeer:
        await asyncio.to_thread(ensure_installed)
        self._tmp = tempfile.TemporaryDirectory(prefix="recap-bench-actual-")
        data = Path(self._tmp.name)
        # The server's migrations open the account database before creating its folders.
        (data / "server-files").mkdir()
        (data / "user-files").mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = str(data / "server.log")
        with open(self.log_path, "wb") as log:
            self._server = subprocess.Popen(
                ["node", str(SERVER_BIN / "actual-server.js")],
                cwd=data,
                env={
                    **os.environ,
                    "ACTUAL_DATA_DIR": str(data),
                    "ACTUAL_PORT": str(self.port),
                    "ACTUAL_HOSTNAME": "127.0.0.1",
                    "NO_COLOR": "1",
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await self._wait_ready()
        self._client = await asyncio.create_subprocess_exec(
            "node",
            str(PACKAGE / "client.mjs"),
            cwd=PACKAGE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 30,
        )
        self._reader = asyncio.create_task(self._read())
        await self.call("setup", url=self.url, password=secrets.token_urlsafe(12))
        return self

    async def _wait_ready(self) -> None:
        assert self._server is not None
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self._server.poll() is not None:
                    raise RuntimeError(f"Actual's server exited: {self._log_tail()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.url + "/health") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"Actual's server did not start: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return Path(self.log_path).read_text()[-2000:]
        except OSError:
            return ""

    async def _read(self) -> None:
        assert self._client is not None and self._client.stdout is not None
        while line := await self._client.stdout.readline():
            reply = orjson.loads(line)
            future = self._pending.pop(reply.get("rid"), None)
            if future is not None and not future.done():
                future.set_result(reply)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RuntimeError("Actual's client exited"))

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self._client is not None and self._client.stdin is not None
        rid = next(self._rids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        self._client.stdin.write(orjson.dumps({"rid": rid, "op": op, **args}) + b"\n")
        await self._client.stdin.drain()
        reply = await future
        if not reply.get("ok"):
            raise RuntimeError(f"Actual client {op}: {reply.get('error')}")
        return reply

    # -- operations ------------------------------------------------------------------------
    async def budget(self, name: str) -> str:
        """A new budget file on the server (its own group of messages); its name."""
        await self.call("budget", name=name)
        return name

    async def replica(self, rid: str, budget: str, node: str | None = None) -> None:
        await self.call("replica", id=rid, budget=budget, node=node)

    async def load(self, rid: str, messages: list[Message]) -> None:
        """Setup, not measured: the replica holds these as if it had synced them."""
        for i in range(0, len(messages), PUSH_BATCH):
            await self.call(
                "load", id=rid, messages=[wire(m) for m in messages[i : i + PUSH_BATCH]]
            )

    async def stamp(self, rid: str, edits: list[dict[str, Any]]) -> list[Message]:
        """Local edits stamped by the replica's own clock (`Timestamp.send()`)."""
        reply = await self.call("stamp", id=rid, edits=edits)
        return [Message.from_json(m) for m in reply["messages"]]

    async def local(self, rid: str, messages: list[Message]) -> None:
        """Local edits already stamped (made offline at set times)."""
        await self.call("local", id=rid, messages=[wire(m) for m in messages])

    async def sync(self, rid: str) -> ActualReport:
        r = await self.call("sync", id=rid)
        return ActualReport(
            r["requests"],
            r["sent"],
            r["received"],
            r["seconds"],
            r["converged"],
            r.get("failure"),
            [Message.from_json(m) for m in r["lacked"]],
        )

    async def drop(self, rid: str) -> None:
        await self.call("drop", id=rid)

    async def push(self, budget: str, messages: list[Message]) -> float:
        """Store messages on the server (one /sync per batch that pulls nothing); seconds."""
        started = time.perf_counter()
        for i in range(0, len(messages), PUSH_BATCH):
            batch = [wire(m) for m in messages[i : i + PUSH_BATCH]]
            await self.call("push", budget=budget, messages=batch)
        return time.perf_counter() - started

    def cpu_seconds(self) -> float:
        """The server process's CPU."""
        return process_cpu_seconds(self._server.pid) if self._server is not None else 0.0

    def client_cpu_seconds(self) -> float:
        """The Node client process's CPU (all the replicas)."""
        return process_cpu_seconds(self._client.pid) if self._client is not None else 0.0

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            if self._client.stdin is not None:
                self._client.stdin.close()
            try:
                await asyncio.wait_for(self._client.wait(), 10)
            except TimeoutError:
                self._client.kill()
                await self._client.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._server is not None:
            self._server.terminate()
            try:
                await asyncio.to_thread(self._server.wait, 10)
            except subprocess.TimeoutExpired:
                self._server.kill()
        if self._tmp is not None:
            self._tmp.cleanup()
