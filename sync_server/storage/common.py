"""What every storage module shares: the connection type, value conversions between the
database and message scalars, and the tenant's write lock."""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from crdt.message import Scalar

Conn = asyncpg.Connection | PoolConnectionProxy  # a connection, or one borrowed from the pool

#: The SQL filter of rows that are not deleted (a tombstone of 1 deletes a row).
LIVE = "tombstone IS DISTINCT FROM 1"


async def lock_tenant(conn: Conn, tenant_id: str) -> None:
    """Serialize this transaction's writes with every other writer of the tenant: a lock on
    the tenant's row of `tenant_sequences`, held to commit (migration 0018 says why a row
    and not an advisory lock). A tenant without its row yet gets it first."""
    locked = await conn.fetchval(
        "SELECT 1 FROM tenant_sequences WHERE tenant_id = $1 FOR UPDATE", tenant_id
    )
    if locked is None:
        await conn.execute(
            "INSERT INTO tenant_sequences (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING",
            tenant_id,
        )
        await conn.execute(
            "SELECT 1 FROM tenant_sequences WHERE tenant_id = $1 FOR UPDATE", tenant_id
        )


@contextlib.asynccontextmanager
async def without_flush_wait(conn: Conn) -> AsyncIterator[None]:
    """A transaction whose commit does not wait for its WAL flush (`synchronous_commit =
    off`): for bookkeeping a crash may roll back without harm, never for what a client was
    told is stored. The relay's leases and delivery marks are such: a lost lease makes an
    event due again, a lost mark delivers it again, which at-least-once delivery allows.
    Each of those commits otherwise waits for a disk flush of its own, beside the flush of
    the write it follows (measured in the many-reps benchmark, BENCHMARKS.md)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit TO off")
        yield


async def ping(conn: Conn) -> None:
    """One round trip: the database answers."""
    await conn.fetchval("SELECT 1")


def scalar_from_db(value: Any) -> Scalar:
    """A column's value as the messages carry it (dates and uuids as strings)."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value  # type: ignore[no-any-return]


def value_text(value: Scalar) -> str | None:
    """A scalar as the text PostgreSQL casts into the column's type."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def json_text(value: object) -> str:
    return orjson.dumps(value).decode()
