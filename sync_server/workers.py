"""Serving: one process, or several on one port.

Connections are bounded in time, not only in number: one that has not sent a whole request
(its headers dribbling in, or nothing at all) or sits idle between requests is closed after
`idle_timeout_s`, and a body must arrive within `body_timeout_s` (`httpio.read_json`). The
process also raises its open-files limit to the hard limit, so slow clients holding sockets
cannot exhaust descriptors before the timeout frees them. `/metrics` shows the open
connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal

from aiohttp import web

from .app import create_app
from .keys import METRICS
from .logging_json import configure
from .settings import Settings


def _raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1 << 20), hard))


async def _serve_until_stopped(settings: Settings, reuse_port: bool) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=settings.idle_timeout_s)
    await runner.setup()
    server = runner.server
    assert server is not None
    app[METRICS].gauges["open_connections"] = lambda: len(server.connections)
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port or None)
    await site.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await runner.cleanup()


def serve(settings: Settings, reuse_port: bool = False) -> None:
    """Run one server process until SIGINT or SIGTERM."""
    _raise_open_files_limit()
    asyncio.run(_serve_until_stopped(settings, reuse_port))


def _serve(settings: Settings) -> None:
    configure()
    serve(settings, reuse_port=True)


def run_workers(settings: Settings) -> int:
    """N processes on one port (SO_REUSEPORT: the kernel spreads connections): Python runs
    one core per process, and the processes share nothing but PostgreSQL, which already
    serializes a tenant's writes, fans live updates out (NOTIFY) and paces the relay and the
    Airtable bridge across processes. The parent only starts, watches and stops them."""
    import multiprocessing
    import signal

    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_serve, args=(settings,)) for _ in range(settings.workers)]
    for worker in workers:
        worker.start()
    print(f"recap: {len(workers)} workers on http://{settings.host}:{settings.port}", flush=True)

    def stop(*_: object) -> None:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.join()
    return max((worker.exitcode or 0) for worker in workers)
