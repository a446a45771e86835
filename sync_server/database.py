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
