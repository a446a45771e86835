"""The abuse findings of issue 20, replayed against a real server process, with figures.

    python -m bench.abuse [--messages 300000] [--slow 1100]

Each row is one finding: what an attacker with a rep's (or an admin's) token tries, what
the server answered, and what it cost the server (its resident memory before and after,
and how a real user fared meanwhile). RELIABILITY.md records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import os
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.harness import Harness
from bench.history import history

DAY_MS = 86_400_000


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


class Peak:
    """The server's resident memory, sampled every 20 ms while in use: before and peak."""

    def __init__(self, h: Harness) -> None:
        assert h.server is not None
        self.server = h.server
        self.before = self.peak = self.server.rss_mb()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Peak:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.server.rss_mb())

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.server.rss_mb())
            await asyncio.sleep(0.02)

    def __str__(self) -> str:
        return f"{self.before:.0f} -> peak {self.peak:.0f} MB"


async def _get(http: aiohttp.ClientSession, url: str, token: str | None) -> tuple[int, int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(url, headers=headers) as resp:
        raw = await resp.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw[:200]
        return resp.status, len(raw), body


async def forged_cursor(
    h: Harness, http: aiohttp.ClientSession, token: str, tenant: str
) -> list[str]:
    assert h.server is not None
    base = h.server.url
    forged = (
        base64.urlsafe_b64encode(orjson.dumps({"start": 0, "ds": 5, "after": "", "t": tenant}))
        .decode()
        .rstrip("=")
    )
    async with Peak(h) as peak:
        results = await asyncio.gather(
            *(_get(http, f"{base}/snapshot?cursor={forged}", token) for _ in range(4))
        )
    statuses = sorted({s for s, _, _ in results})
    largest = max(n for _, n, _ in results)
    # The honest path: page through; the largest response.
    _, size, page = await _get(http, base + "/snapshot", token)
    pages, biggest = 1, size
    while not page.get("done"):
        _, size, page = await _get(http, f"{base}/snapshot?cursor={page['cursor']}", token)
        pages += 1
        biggest = max(biggest, size)
    return [
        "forged snapshot cursor (start=0), 4 at once",
        f"{statuses} {largest:,} B each",
        str(peak),
        f"honest bootstrap: {pages} pages, largest {biggest / 1e6:.1f} MB",
    ]


async def summary_ranges(h: Harness, http: aiohttp.ClientSession, token: str) -> list[str]:
    assert h.server is not None
    server = h.server
    day = datetime.date(2020, 1, 1)
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> int:
        start = day + datetime.timedelta(days=i % 1000)
        end = start + datetime.timedelta(days=i // 1000 + 1)
        async with sem:
            status, _, _ = await _get(
                http, f"{server.url}/api/v1/summary?from={start}&to={end}", token
            )
            return status

    async with Peak(h) as peak:
        statuses = await asyncio.gather(*(one(i) for i in range(1496)))
    return [
        "1,496 distinct dashboard date ranges",
        f"{sorted(set(statuses))}",
        str(peak),
        "cache holds at most 256 answers (LRU)",
    ]


async def big_bodies(h: Harness, http: aiohttp.ClientSession, token: str) -> list[str]:
    assert h.server is not None
    server = h.server
    limit = 8 * 1024 * 1024  # max_body_bytes
    node = "00000000000000b1"
    message = {
        "dataset": "pre_orders",
        "row": str(uuid.uuid4()),
        "column": "status",
        "value": "pending",
        "timestamp": "2026-01-01T00:00:00.000Z-0000-" + node,
    }
    one = orjson.dumps(message)
    count = (limit - 100) // (len(one) + 1)
    body = b'{"node":"' + node.encode() + b'","messages":[' + b",".join([one] * count) + b"]}"
    over = body + b" " * (2 * limit - len(body))  # 16 MB, as in the finding
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def post(payload: bytes) -> int:
        async with http.post(server.url + "/sync", data=payload, headers=headers) as resp:
            await resp.read()
            return resp.status

    started = time.perf_counter()
    async with Peak(h) as over_peak:
        over_statuses = await asyncio.gather(
            *(post(over) for _ in range(8)), return_exceptions=True
        )
    over_s = time.perf_counter() - started
    started = time.perf_counter()
    async with Peak(h) as at_peak:
        at_statuses = await asyncio.gather(*(post(body) for _ in range(8)), return_exceptions=True)
    at_s = time.perf_counter() - started
    return [
        "8 x 16 MB bodies at once (over the limit), then 8 x 8 MB (at it)",
        f"over: {sorted({str(s) for s in over_statuses})} in {over_s:.2f} s; "
        f"at: {sorted({str(s) for s in at_statuses})} in {at_s:.2f} s",
        f"over: {over_peak}; at: {at_peak}",
        f"{count:,} messages per body at the limit; 16 MB body budget",
    ]


async def slow_clients(h: Harness, http: aiohttp.ClientSession, token: str, n: int) -> list[str]:
    assert h.server is not None
    log = Path(h.server.log.name)
    log_before = log.stat().st_size
    peak = Peak(h)
    await peak.__aenter__()
    port = h.server.port
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/v1/preorders HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append((reader, writer))
    latencies = []
    for _ in range(20):
        started = time.perf_counter()
        status, _, _ = await _get(http, h.server.url + "/api/v1/preorders?limit=20", token)
        assert status == 200, status
        latencies.append((time.perf_counter() - started) * 1000)
    opened = time.monotonic()
    closed = await asyncio.gather(
        *(asyncio.wait_for(r.read(), 60) for r, _ in held), return_exceptions=True
    )
    closed_after = time.monotonic() - opened
    for _, writer in held:
        writer.close()
    shut = sum(1 for c in closed if c == b"")
    await peak.__aexit__()
    return [
        f"{n:,} connections that never finish their headers",
        f"{shut:,} closed by the server within {closed_after:.1f} s; a user's GET: "
        f"max {max(latencies):.0f} ms",
        str(peak),
        f"server log grew {log.stat().st_size - log_before:,} B",
    ]


async def metrics_open(h: Harness, http: aiohttp.ClientSession, rep: str) -> list[str]:
    assert h.server is not None
    anonymous = (await _get(http, h.server.url + "/metrics", None))[0]
    as_rep = (await _get(http, h.server.url + "/metrics", rep))[0]
    return ["/metrics without a token / as a rep", f"{anonymous} / {as_rep}", "", ""]


async def main(messages: int, slow: int) -> None:
    async with Harness() as h, aiohttp.ClientSession() as http:
        tenant, tokens = await h.tenant("abuse", ["admin"])
        assert h.conn is not None
        end = int(time.time() * 1000)
        seeded = list(history(messages, end - 365 * DAY_MS, end))
        await h.seed(tenant, seeded)
        token = tokens["admin"]
        rows = [
            await forged_cursor(h, http, token, tenant),
            await summary_ranges(h, http, token),
            await big_bodies(h, http, token),
            await slow_clients(h, http, token, slow),
        ]
        rep_tenant, rep_tokens = await h.tenant("reps", ["rep"])
        await h.conn.execute("UPDATE users SET role = 'rep' WHERE tenant_id = $1", rep_tenant)
        rows.append(await metrics_open(h, http, rep_tokens["rep"]))
        print(f"\n{len(seeded):,} messages seeded; machine: {os.cpu_count()} cores")
        print_table(["attack", "answer", "server RSS", "notes"], rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--slow", type=int, default=1100)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.slow))
