"""A fault-injecting HTTP proxy on loopback, between the reps and the servers.

Per request, with seeded probabilities: drop it (close the connection, nothing forwarded),
delay it, duplicate it (forward twice, answer with the second), or cut the response (the
server handles it, the client gets a broken connection instead of the answer). Upstreams
are tried in turn, so a dead server means failover to another (a 503 is passed on: the
client must back off and retry). Counts what it did, and the upstreams' 5xx answers.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web


@dataclass
class Faults:
    drop: float = 0.05
    delay: float = 0.10
    duplicate: float = 0.05
    cut: float = 0.05
    max_delay_s: float = 0.3


@dataclass
class ChaosProxy:
    upstreams: list[str]
    faults: Faults = field(default_factory=Faults)
    seed: int = 1
    enabled: bool = True
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._turn = 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request, body: bytes) -> tuple[int, bytes, str]:
        assert self._session is not None
        last: Exception | None = None
        for _ in range(len(self.upstreams)):
            upstream = self.upstreams[self._turn % len(self.upstreams)]
            self._turn += 1
            headers = {
                k: v
                for k, v in request.headers.items()
                if k.lower() in ("authorization", "content-type")
            }
            try:
                async with self._session.request(
                    request.method, upstream + request.path_qs, data=body, headers=headers
                ) as resp:
                    if resp.status >= 500:  # 503: the server could not reach PostgreSQL
                        self.counts[f"upstream_{resp.status}"] += 1
                    return resp.status, await resp.read(), resp.content_type
            except (aiohttp.ClientError, OSError) as exc:
                last = exc
                self.counts["upstream_down"] += 1
        raise web.HTTPBadGateway(text=f"no upstream answered: {last!r}")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.counts["requests"] += 1
        f = self.faults
        if self.enabled:
            roll = self.rng.random()
            if roll < f.drop:
                self.counts["dropped"] += 1
                assert request.transport is not None
                request.transport.close()
                raise ConnectionResetError("dropped by the chaos proxy")
            if self.rng.random() < f.delay:
                self.counts["delayed"] += 1
                await asyncio.sleep(self.rng.uniform(0, f.max_delay_s))
            if self.rng.random() < f.duplicate:
                self.counts["duplicated"] += 1
                await self._forward(request, body)
            status, data, ctype = await self._forward(request, body)
            if self.rng.random() < f.cut:
                self.counts["cut"] += 1
                assert request.transport is not None
                request.transport.close()
                raise ConnectionResetError("response cut by the chaos proxy")
        else:
            status, data, ctype = await self._forward(request, body)
        return web.Response(status=status, body=data, content_type=ctype or None)
