"""A PostgreSQL server of a test's own (pgserver), which the test can crash and start again:
for the tests where PostgreSQL itself fails (tests/server/test_db_faults.py,
tests/chaos/test_chaos.py), which must not touch the shared server of the other tests.

A module uses it through a fixture of its own (importing a fixture would shadow it):

    @pytest.fixture
    def postgres() -> Iterator[Postgres]:
        with own_postgres() as pg:
            yield pg

Its data directory is a temporary directory of its own, not under pytest's `tmp_path`: when
the tests run as root, PostgreSQL runs as an unprivileged user (pgserver's), and every new
pytest session (anyone's, on a shared machine) resets `/tmp/pytest-of-root` to mode 0700 —
the server would lose its own data directory mid-test ("could not access directory").
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from sync_server import database
from tests.conftest import with_database


class Postgres:
    """A PostgreSQL server in `root / "pg"`, stopped (as a crash) and started at will."""

    def __init__(self, root: Path) -> None:
        import pgserver

        self.server = pgserver.get_server(root / "pg", cleanup_mode="stop")
        self.url = self.server.get_uri()
        #: how many times it was crashed, and how long each start took (crash recovery)
        self.crashes = 0
        self.start_seconds: list[float] = []

    def stop(self) -> None:
        """An immediate shutdown: the postmaster and every backend quit at once, without a
        checkpoint, and open connections break — a crash, recovered from the WAL at the next
        start."""
        from pgserver._commands import pg_ctl

        pg_ctl(
            ["-m", "immediate", "-w", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
        )
        self.crashes += 1

    def start(self) -> None:
        """Start it again (and wait until it accepts connections); the URL does not change."""
        started = time.monotonic()
        self.server.ensure_postgres_running()
        self.start_seconds.append(time.monotonic() - started)

    async def create_database(self, name: str) -> str:
        """A new database on this server, migrated as the tests' template database is
        (tests/conftest.py); its URL."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = with_database(self.url, name)
        await database.migrate_async(url)
        return url


@contextmanager
def own_postgres() -> Iterator[Postgres]:
    """A running PostgreSQL of the caller's own, stopped and deleted at the end."""
    with tempfile.TemporaryDirectory(prefix="recap-own-pg-") as root:
        pg = Postgres(Path(root))
        try:
            yield pg
        finally:
            pg.server.cleanup()
