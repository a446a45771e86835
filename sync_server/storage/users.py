"""Tenants, their users, and which user each device's node id belongs to."""

from __future__ import annotations

import asyncpg

from .common import Conn


async def create_tenant(conn: Conn, tenant_id: str, name: str) -> None:
    await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", tenant_id, name)


async def count_tenants(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT count(*) FROM tenants")
    return value


async def create_user(
    conn: Conn,
    user_id: str,
    tenant_id: str,
    email: str,
    display_name: str,
    password_hash: str,
    role: str,
) -> None:
    await conn.execute(
        """INSERT INTO users (id, tenant_id, email, display_name, password_hash, role)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        user_id,
        tenant_id,
        email,
        display_name,
        password_hash,
        role,
    )


async def by_email(conn: Conn, email: str) -> asyncpg.Record | None:
    """The user signing in with this (normalized) email, with their password hash."""
    record: asyncpg.Record | None = await conn.fetchrow(
        """SELECT id::text AS id, tenant_id::text AS tenant_id, email, display_name,
                  password_hash, role FROM users WHERE email = $1""",
        email,
    )
    return record


async def by_id(conn: Conn, tenant_id: str, user_id: str) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await conn.fetchrow(
        """SELECT id::text AS id, tenant_id::text AS tenant_id, email, display_name, role
           FROM users WHERE id = $1 AND tenant_id = $2""",
        user_id,
        tenant_id,
    )
    return record


async def register_node(conn: Conn, tenant_id: str, node: str, user_id: str) -> bool:
    """Record that `node` is this user's device, on its first sync (later syncs refresh
    `last_seen`). False if the node id is taken: another user's device, the tenant's
    Airtable bridge, or a server process's own node."""
    owner = await conn.fetchval(
        """INSERT INTO nodes (tenant_id, node, user_id, kind)
           SELECT $1, $2, $3, 'device'
           WHERE NOT EXISTS (SELECT 1 FROM system_nodes WHERE node = $2)
           ON CONFLICT (tenant_id, node) DO UPDATE SET last_seen = now()
           RETURNING user_id""",
        tenant_id,
        node,
        user_id,
    )
    return owner is not None and str(owner) == user_id


async def register_bridge_node(conn: Conn, tenant_id: str, node: str) -> bool:
    """Give the tenant's Airtable bridge this node id; False if it is taken."""
    taken = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM nodes WHERE tenant_id = $1 AND node = $2)
               OR EXISTS (SELECT 1 FROM system_nodes WHERE node = $2)""",
        tenant_id,
        node,
    )
    if taken:
        return False
    await conn.execute(
        "INSERT INTO nodes (tenant_id, node, user_id, kind) VALUES ($1, $2, NULL, 'bridge')",
        tenant_id,
        node,
    )
    return True


async def reserve_server_node(conn: Conn, node: str) -> bool:
    """Reserve a server process's node id in every tenant; False if any device or bridge
    already uses it (the process then draws another)."""
    reserved = await conn.fetchval(
        """INSERT INTO system_nodes (node, kind)
           SELECT $1, 'server' WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE node = $1)
           ON CONFLICT (node) DO NOTHING
           RETURNING 1""",
        node,
    )
    return reserved is not None


async def node_owners(conn: Conn, tenant_id: str, nodes: list[str]) -> dict[str, str]:
    """The user owning each of `nodes` that is a device's."""
    return {
        r["node"]: str(r["user_id"])
        for r in await conn.fetch(
            "SELECT node, user_id FROM nodes WHERE tenant_id = $1 AND node = ANY($2::text[]) "
            "AND user_id IS NOT NULL",
            tenant_id,
            nodes,
        )
    }
