"""Several server processes on one port."""

from __future__ import annotations

from aiohttp import web

from .app import create_app
from .logging_json import configure
from .settings import Settings


def _serve(settings: Settings) -> None:
    configure()
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        reuse_port=True,
        print=None,
    )


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
