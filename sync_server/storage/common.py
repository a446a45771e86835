"""What every storage module shares: the connection type, value conversions between the
database and message scalars, and the tenant's write lock."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from crdt.message import Scalar

Conn = asyncpg.Connection | PoolConnectionProxy  # a connection, or one borrowed from the pool

#: The SQL filter of rows that are not deleted (a tombstone of 1 deletes a row).
LIVE = "tombstone IS DISTINCT FROM 1"


def tenant_lock_key(tenant_id: str) -> int:
    return uuid.UUID(tenant_id).int & 0x7FFF_FFFF_FFFF_FFFF


async def lock_tenant(conn: Conn, tenant_id: str) -> None:
    """Serialize this transaction's writes with every other writer of the tenant."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", tenant_lock_key(tenant_id))


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
