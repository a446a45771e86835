"""What one client can take of a server process is bounded: a body over the limit is refused
from its Content-Length before it is read; a body that dribbles in times out (408); large
bodies wait for their share of a memory budget; connections that never finish their headers
are closed; caches, rate-limit buckets and repeated log lines have a size bound."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from crdt.errors import RecapError
from sync_server.keys import SUMMARY_CACHE
from sync_server.logging_json import RepeatFilter
from sync_server.ratelimit import MAX_BUCKETS, BodyBudget, RateLimiter
from sync_server.services.summary import SummaryCache
from sync_server.settings import PROJECT_ROOT
from tests.conftest import TEST_SECRET, MakeServer, MakeTenant, Running
from tests.server.test_processes import free_port


async def raw_request(url: str, head: bytes, body: bytes = b"", wait_s: float = 10.0) -> bytes:
    """Send `head` (and `body`) on a socket of its own, and read what comes back until the
    server closes or `wait_s` passes."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + body)
        await writer.drain()
        answer = b""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
            except TimeoutError:
                break
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer and b'"message"' in answer:
                break
        return answer
    finally:
        writer.close()


def status_and_body(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, orjson.loads(body[body.index(b"{") : body.rindex(b"}") + 1])


def post_head(path: str, token: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


# -- bodies ---------------------------------------------------------------------------------
async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    make_server: MakeServer, make_tenant: MakeTenant
) -> None:
    server = await make_server(max_body_bytes=4096)
    t = await make_tenant()
    # 100 MB announced, 10 bytes sent: the answer comes at once, nothing more is awaited.
    started = time.monotonic()
    answer = await raw_request(server.url, post_head("/sync", t.token("alice"), 100 << 20), b"{")
    status, body = status_and_body(answer)
    assert (status, body["code"]) == (413, "too_large")
    assert body["limit"] == 4096
    assert time.monotonic() - started < 2.0


async def test_a_body_that_dribbles_in_times_out(
    make_server: MakeServer, make_tenant: MakeTenant, http: aiohttp.ClientSession
) -> None:
    server = await make_server(body_timeout_s=0.5)
    t = await make_tenant()
    started = time.monotonic()
    answer = await raw_request(server.url, post_head("/sync", t.token("alice"), 1000), b'{"no')
    status, body = status_and_body(answer)
    assert (status, body["code"]) == (408, "request_timeout")
    assert 0.4 < time.monotonic() - started < 5.0
    # The budget it held is back: the next request is served.
    async with http.get(server.url + "/healthz") as resp:
        assert resp.status == 200


async def test_large_bodies_wait_for_their_share_of_the_budget(
    make_server: MakeServer, make_tenant: MakeTenant, http: aiohttp.ClientSession
) -> None:
    """Budget 16 KB, bodies up to 8 KB: while a slow 8 KB body of alice's holds her share,
    her next body waits and is refused with 503 `busy`; bob's goes through beside it. A
    caller without a valid token holds nothing: 401 before a byte of the body is read."""
    server = await make_server(
        max_body_bytes=8192, body_budget_bytes=16384, body_timeout_s=1.5, body_wait_s=0.5
    )
    t = await make_tenant()
    alice, bob = t.token("alice"), t.token("bob")
    holder = asyncio.create_task(
        raw_request(server.url, post_head("/sync", alice, 8192), b"{", wait_s=5)
    )
    await asyncio.sleep(0.2)

    async def push(token: str, node: str) -> tuple[int, Any, str | None]:
        payload = orjson.dumps({"node": node, "messages": []})
        async with http.post(
            server.url + "/sync",
            data=payload,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as resp:
            return resp.status, await resp.json(), resp.headers.get("Retry-After")

    started = time.monotonic()
    status, body, retry = await push(alice, "0123456789abcdef")
    assert (status, body["code"], retry) == (503, "busy", "2"), body
    assert time.monotonic() - started >= 0.45
    assert (await push(bob, "0123456789abcdee"))[0] == 200  # another user's share
    # No token: refused at once, nothing reserved, the body never read.
    started = time.monotonic()
    anonymous = await raw_request(server.url, post_head("/sync", "forged", 8192), b"{")
    assert status_and_body(anonymous)[0] == 401 and time.monotonic() - started < 1.0
    assert status_and_body(await holder)[0] == 408
    # Freed: the same request goes through.
    assert (await push(alice, "0123456789abcdef"))[0] == 200


async def test_the_body_budget_queues_and_refuses() -> None:
    budget = BodyBudget(100, per_holder=80)
    order: list[str] = []

    async def use(
        name: str, size: int, hold_s: float, wait_s: float = 5.0, holder: str = "u"
    ) -> None:
        async with budget.reserve(holder, size, wait_s):
            order.append(f"{name}+")
            await asyncio.sleep(hold_s)
            order.append(f"{name}-")

    first = asyncio.create_task(use("a", 60, 0.2, holder="u1"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(use("b", 60, 0.0, holder="u2"))
    await asyncio.gather(first, second)
    assert order == ["a+", "a-", "b+", "b-"]  # b waited for a (the total)
    assert budget.in_use == 0 and budget.held == {}
    order.clear()
    first = asyncio.create_task(use("c", 50, 0.2, holder="u1"))
    await asyncio.sleep(0.01)
    same = asyncio.create_task(use("d", 40, 0.0, holder="u1"))  # over u1's 80
    other = asyncio.create_task(use("e", 40, 0.0, holder="u2"))  # fits beside c
    await asyncio.gather(first, same, other)
    assert order.index("e-") < order.index("c-") < order.index("d+")
    holder = asyncio.create_task(use("f", 80, 0.5))
    await asyncio.sleep(0.01)
    with pytest.raises(RecapError) as refused:
        await use("g", 1, 0.0, wait_s=0.1)
    assert refused.value.code == "busy" and budget.refused == 1
    await holder
    # Larger than a holder's share: it takes the share, not forever.
    await use("h", 10**9, 0.0, wait_s=0.1)
    assert budget.in_use == 0


# -- connections ----------------------------------------------------------------------------
@pytest.fixture
async def process(db_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A real server process (its connection timeouts are set where it serves), with
    connections idle for 1 s closed."""
    port = free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "RECAP_TOKEN_SECRET": TEST_SECRET,
        "RECAP_DATA_DIR": str(tmp_path),
        "RECAP_IDLE_TIMEOUT_S": "1",
        "RECAP_LOG_REQUESTS": "false",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sync_server", "run", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(url + "/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail(log.read_text()[-3000:])
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        assert proc.returncode == 0, log.read_text()[-3000:]  # a clean SIGTERM stop


async def test_connections_that_never_finish_their_headers_are_closed(
    process: str, make_tenant: MakeTenant, db_url: str
) -> None:
    host, port = process.removeprefix("http://").split(":")
    t = await make_tenant()
    slow: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(200):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /api/v1/preorders HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append((reader, writer))
    headers = {"Authorization": f"Bearer {t.token('carla')}"}
    async with aiohttp.ClientSession() as http:
        # A real user is served meanwhile.
        started = time.monotonic()
        async with http.get(process + "/api/v1/preorders", headers=headers) as resp:
            assert resp.status == 200
        assert time.monotonic() - started < 1.0
        async with http.get(process + "/metrics", headers=headers) as resp:
            text = await resp.text()
            open_now = next(
                float(line.split()[1])
                for line in text.splitlines()
                if line.startswith("recap_open_connections ")
            )
            assert open_now >= 200
        # Each slow connection is closed by the server within about the timeout.
        started = time.monotonic()
        closed = await asyncio.gather(*(asyncio.wait_for(r.read(), 5) for r, _ in slow))
        assert all(c == b"" for c in closed)
        assert time.monotonic() - started < 3.0
        for _, writer in slow:
            writer.close()
        await asyncio.sleep(0.2)
        async with http.get(process + "/metrics", headers=headers) as resp:
            text = await resp.text()
            assert "recap_open_connections " in text
            after = next(
                float(line.split()[1])
                for line in text.splitlines()
                if line.startswith("recap_open_connections ")
            )
            assert after < 10


# -- caches and bookkeeping -----------------------------------------------------------------
async def test_the_summary_cache_keeps_a_bounded_number_of_answers(
    make_server: MakeServer, make_tenant: MakeTenant, http: aiohttp.ClientSession
) -> None:
    server: Running = await make_server(summary_cache_entries=5)
    t = await make_tenant()
    headers = {"Authorization": f"Bearer {t.token('carla')}"}
    day = datetime.date(2026, 1, 1)
    for i in range(40):
        start = day + datetime.timedelta(days=i)
        url = f"{server.url}/api/v1/summary?from={start}&to={start}"
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
    cache = server.server.app[SUMMARY_CACHE]
    assert len(cache.entries) == 5 and cache.evicted == 35
    # The most recently used stays: asking again is a hit, not a computation.
    computed = cache.computed
    async with http.get(url, headers=headers) as resp:
        assert resp.status == 200
    assert cache.computed == computed


async def test_summary_cache_evicts_the_least_recently_used() -> None:
    cache = SummaryCache(max_entries=2)
    d = datetime.date(2026, 1, 1)
    keys = [("t", d, d + datetime.timedelta(days=i), 5) for i in range(3)]

    async def value() -> dict[str, Any]:
        return {"v": 1}

    await cache.get(keys[0], value)
    await cache.get(keys[1], value)
    await cache.get(keys[0], value)  # used: now the most recent
    await cache.get(keys[2], value)
    assert list(cache.entries) == [keys[0], keys[2]]


def test_rate_limit_buckets_are_pruned() -> None:
    limiter = RateLimiter(rate_per_s=1000.0, burst=1)
    for i in range(MAX_BUCKETS):
        limiter.allow(f"user-{i}")
    time.sleep(0.01)  # every bucket has refilled (1 token at 1000/s: 1 ms)
    limiter.allow("newcomer")
    assert len(limiter._buckets) == 1


def test_repeated_log_lines_are_rate_limited() -> None:
    clock = [0.0]
    flood = RepeatFilter(burst=3, per_s=1.0, now=lambda: clock[0])

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("aiohttp.server", logging.ERROR, "", 0, msg, (), None)

    passed = [flood.filter(record("Error handling request")) for _ in range(1000)]
    assert sum(passed) == 3 and flood.suppressed == 997
    assert flood.filter(record("another kind of line"))  # kinds are counted apart
    clock[0] = 1.0
    one = record("Error handling request")
    assert flood.filter(one) and one.__dict__["suppressed"] == 997  # says how many it stood for


def test_the_python_client_splits_pushes_by_count_and_bytes() -> None:
    """An honest push stays far below the server's body limit, whatever its values."""
    from crdt.message import Message
    from recap_client.http import PUSH_BYTES, chunk

    big = "x" * 100_000
    messages = [
        Message("partners", str(uuid.UUID(int=i)), "name", big if i % 2 else "small",
                f"2026-01-01T00:00:00.000Z-{i:04X}-0000000000000001")
        for i in range(100)
    ]  # fmt: skip
    parts = chunk(messages, limit=30)
    assert [m for part in parts for m in part] == messages  # in order, none lost
    for part in parts:
        assert len(part) <= 30
        body = orjson.dumps({"node": "0000000000000001", "messages": [m.to_json() for m in part]})
        assert len(body) <= PUSH_BYTES + 100_000  # one message may straddle the bound
    assert len(parts) >= 3
