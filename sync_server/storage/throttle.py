"""Failed sign-ins, counted per key ('account:<email>', 'address:<ip>') in a sliding
window, shared by every server process."""

from __future__ import annotations

import datetime

from .common import Conn


async def blocked_for(conn: Conn, keys: list[str], limit: int, window: datetime.timedelta) -> float:
    """Seconds until every key has fewer than `limit` failures within `window` (0: now)."""
    wait = await conn.fetchval(
        """SELECT coalesce(max(extract(epoch FROM f.at + $3::interval - now())), 0)
           FROM unnest($1::text[]) AS k(key)
           CROSS JOIN LATERAL (
               SELECT at FROM login_failures WHERE key = k.key AND at > now() - $3::interval
               ORDER BY at DESC OFFSET $2 - 1 LIMIT 1
           ) AS f""",
        keys,
        limit,
        window,
    )
    return max(float(wait), 0.0)


async def record_failure(conn: Conn, keys: list[str]) -> None:
    await conn.execute("INSERT INTO login_failures (key) SELECT unnest($1::text[])", keys)


async def forget(conn: Conn, key: str) -> None:
    await conn.execute("DELETE FROM login_failures WHERE key = $1", key)


async def prune(conn: Conn, window: datetime.timedelta) -> None:
    await conn.execute("DELETE FROM login_failures WHERE at < now() - $1::interval", window)
