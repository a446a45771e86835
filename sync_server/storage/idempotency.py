"""Stored answers of idempotent creates (`Idempotency-Key`), per tenant and key."""

from __future__ import annotations

import datetime
from typing import Any

import asyncpg

from .common import Conn


async def find(
    conn: Conn, tenant_id: str, key: str, ttl: datetime.timedelta
) -> asyncpg.Record | None:
    """The request hash and stored answer of a key used within `ttl`, if any."""
    record: asyncpg.Record | None = await conn.fetchrow(
        """SELECT request_hash, status, response FROM idempotency_keys
           WHERE tenant_id = $1 AND key = $2 AND created_at > now() - $3::interval""",
        tenant_id,
        key,
        ttl,
    )
    return record


async def save(
    conn: Conn, tenant_id: str, key: str, request_hash: str, status: int, response: Any
) -> None:
    await conn.execute(
        """INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
               status = EXCLUDED.status, response = EXCLUDED.response,
               created_at = EXCLUDED.created_at""",
        tenant_id,
        key,
        request_hash,
        status,
        response,
    )
