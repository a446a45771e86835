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


class _Client:
    """One Node process of bench/actual/client.mjs and its pending requests."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            reply = orjson.loads(line)
            future = self.pending.pop(reply.get("rid"), None)
            if future is not None and not future.done():
                future.set_result(reply)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(RuntimeError("Actual's client exited"))

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


class ActualPeer:
    """`ActualPeer(clients=N)`: the replicas spread over N client processes (round robin by
    creation), so that one Node process applying what 200 replicas pull does not become
    the limit of a load test, as Recap's load generators are split (bench/many_reps.py)."""

    def __init__(self, clients: int = 1) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._clients: list[_Client] = []
        self._count = clients
        self._home: dict[str, int] = {}
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
        password = secrets.token_urlsafe(12)
        for k in range(self._count):
            proc = await asyncio.create_subprocess_exec(
                "node",
                str(PACKAGE / "client.mjs"),
                cwd=PACKAGE,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 30,
            )
            self._clients.append(_Client(proc))
            await self._call(
                k, "setup", url=self.url, password=password, bootstrap=k == 0, net=k + 1
            )
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

    async def _call(self, k: int, op: str, **args: Any) -> dict[str, Any]:
        client = self._clients[k]
        assert client.proc.stdin is not None
        rid = next(self._rids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        client.pending[rid] = future
        client.proc.stdin.write(orjson.dumps({"rid": rid, "op": op, **args}) + b"\n")
        await client.proc.stdin.drain()
        reply = await future
        if not reply.get("ok"):
            raise RuntimeError(f"Actual client {op}: {reply.get('error')}")
        return reply

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        """An operation in the process that holds replica `id` (the first one otherwise)."""
        return await self._call(self._home.get(args.get("id", ""), 0), op, **args)

    # -- operations ------------------------------------------------------------------------
    async def budget(self, name: str) -> str:
        """A new budget file on the server (its own group of messages); its name."""
        ids = await self._call(0, "budget", name=name)
        for k in range(1, len(self._clients)):
            await self._call(k, "adopt", name=name, fileId=ids["fileId"], groupId=ids["groupId"])
        return name

    async def replica(self, rid: str, budget: str, node: str | None = None) -> None:
        self._home[rid] = len(self._home) % len(self._clients)
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

    async def sync(self, rid: str, lacked: bool = True) -> ActualReport:
        """The real client's full-sync loop; `lacked=False` leaves the received messages
        out of the report (a bootstrap's whole history)."""
        r = await self.call("sync", id=rid, lacked=lacked)
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
        del self._home[rid]

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
        """The Node client processes' CPU (all the replicas)."""
        return sum(process_cpu_seconds(c.proc.pid) for c in self._clients)

    async def __aexit__(self, *exc: object) -> None:
        for client in self._clients:
            await client.stop()
        if self._server is not None:
            self._server.terminate()
            try:
                await asyncio.to_thread(self._server.wait, 10)
            except subprocess.TimeoutExpired:
                self._server.kill()
        if self._tmp is not None:
            self._tmp.cleanup()
