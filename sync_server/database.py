"""PostgreSQL: the embedded server when no DATABASE_URL is given, migrations, the pool."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from .settings import PROJECT_ROOT

log = logging.getLogger("recap.db")
MIGRATIONS = PROJECT_ROOT / "migrations"
_embedded: dict[Path, Any] = {}


def embedded_url(data_dir: Path) -> str:
    """Start (once per process) an embedded PostgreSQL under `data_dir/pg` and return its URL."""
    import pgserver

    pg_dir = (data_dir / "pg").resolve()
    if pg_dir not in _embedded:
        pg_dir.parent.mkdir(parents=True, exist_ok=True)
        _embedded[pg_dir] = pgserver.get_server(pg_dir, cleanup_mode=None)
    uri: str = _embedded[pg_dir].get_uri()
    return uri


def migrate(url: str) -> None:
    """Apply pending yoyo migrations (idempotent; safe from several processes at once,
    yoyo takes a lock)."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(yoyo_url(url))
    try:
        migrations = read_migrations(str(MIGRATIONS))
        with backend.lock():
            backend.apply_migrations(backend.to_apply(migrations))
    finally:
        backend.connection.close()


def yoyo_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's reset statement (unlock all, UNLISTEN, RESET
    ALL): one round trip per checkout, a sixth of a sync's. Nothing here leaves session
    state behind: locks are transaction-scoped (the Airtable bridge's one session lock is
    released in a `finally`), LISTEN lives on the hub's own connection, no SET is issued.
    asyncpg still rolls back an open transaction before calling this."""


async def create_pool(url: str, min_size: int, max_size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=60,
    )
    assert pool is not None
    return pool


async def migrate_async(url: str) -> None:
    await asyncio.to_thread(migrate, url)


#: What a request or a start meets while PostgreSQL is down or restarting.
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
)


def is_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (rather than a bad statement)."""
    return isinstance(exc, UNREACHABLE) and not isinstance(exc, asyncpg.PostgresSyntaxError)


async def wait_until_reachable(
    url: str, deadline_s: float, first_wait_s: float = 0.2, max_wait_s: float = 5.0
) -> None:
    """Connect and apply migrations, retrying with exponential backoff while PostgreSQL
    cannot be reached (a server started before its database, or during a restart), for up to
    `deadline_s`; then the last error propagates."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline_s
    wait = first_wait_s
    attempt = 0
    while True:
        attempt += 1
        try:
            await migrate_async(url)
            return
        except Exception as exc:
            if loop.time() + wait > give_up or not _looks_unreachable(exc):
                raise
            log.warning(
                "database not reachable; retrying",
                extra={"attempt": attempt, "wait_s": round(wait, 2), "error": str(exc)[:200]},
            )
            await asyncio.sleep(wait)
            wait = min(wait * 2, max_wait_s)


def _looks_unreachable(exc: BaseException) -> bool:
    """The migration runner (yoyo, on psycopg) could not connect: psycopg says so with an
    OperationalError (refused, no socket, the server starting up or shutting down)."""
    import psycopg

    return is_unreachable(exc) or isinstance(exc, psycopg.OperationalError)


async def migrations_pending(url: str) -> int:
    """How many migrations are not applied yet (0 once the schema is current)."""

    def count() -> int:
        from yoyo import get_backend, read_migrations

        backend = get_backend(yoyo_url(url))
        try:
            return len(backend.to_apply(read_migrations(str(MIGRATIONS))))
        finally:
            backend.connection.close()

    return await asyncio.to_thread(count)
