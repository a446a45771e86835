"""Recap on a Citus cluster (issue 22), when one is given: `RECAP_TEST_CITUS_URL` names a
database on the coordinator (with the citus extension and its workers added), and
`RECAP_TEST_CITUS_NODE_URL`, optionally, the same database through a second node that takes
distributed queries (a worker, Citus 11+), for the writes that enter by two nodes. Without
them these tests are reported as skipped: nothing here passes without a cluster.

The cluster's database is migrated, distributed (`python -m sync_server citus-distribute`),
and then the whole server suite runs through the coordinator (tests/conftest.py ON_CITUS
mode: that one database, emptied before each test)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from sync_server import database
from sync_server.storage import distribution

ROOT = Path(__file__).resolve().parents[2]
CITUS_URL = os.environ.get("RECAP_TEST_CITUS_URL", "")
NODE_URL = os.environ.get("RECAP_TEST_CITUS_NODE_URL", "")

pytestmark = pytest.mark.skipif(
    not CITUS_URL, reason="no Citus cluster given (set RECAP_TEST_CITUS_URL)"
)


async def distributed() -> None:
    """Migrate and distribute the cluster's database, through the CLI as an operator would."""
    database.migrate(CITUS_URL)
    done = subprocess.run(
        [sys.executable, "-m", "sync_server", "citus-distribute"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": CITUS_URL},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_every_tenant_table_is_distributed_and_colocated() -> None:
    await distributed()
    conn = await asyncpg.connect(CITUS_URL)
    try:
        with_tenant, without = await distribution.tables(conn)
        rows = await conn.fetch(
            """SELECT logicalrelid::regclass::text AS name, partmethod, colocationid,
                      column_to_column_name(logicalrelid, partkey) AS column
               FROM pg_dist_partition"""
        )
    finally:
        await conn.close()
    meta = {r["name"]: r for r in rows}
    anchor = meta[distribution.ANCHOR]
    for table in with_tenant - set(distribution.GLOBAL_TABLES):
        assert meta[table]["partmethod"] == "h", table
        assert meta[table]["column"] == "tenant_id", table
        assert meta[table]["colocationid"] == anchor["colocationid"], table
    for table in set(distribution.GLOBAL_TABLES) & (with_tenant | without):
        assert meta[table]["partmethod"] == "n", table


def test_the_server_suite_passes_through_the_coordinator() -> None:
    asyncio.run(distributed())
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/server"],
        cwd=ROOT,
        env={**os.environ, "RECAP_TEST_ON_CITUS": "1"},
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


@pytest.mark.skipif(not NODE_URL, reason="no second Citus node given (RECAP_TEST_CITUS_NODE_URL)")
def test_seq_is_commit_order_with_writes_entering_by_two_nodes() -> None:
    """The per-tenant order test, its two pools on two nodes of the cluster."""
    asyncio.run(distributed())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/server/test_tenant_order.py",
            "tests/server/test_processes.py",
        ],
        cwd=ROOT,
        env={**os.environ, "RECAP_TEST_ON_CITUS": "1"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
