"""Tenants, their users, and their devices (which node id belongs to whom, and which are
revoked)."""

from __future__ import annotations

import asyncpg

from .common import Conn


async def create_tenant(conn: Conn, tenant_id: str, name: str) -> str:
    """A new tenant; its slug (migration 0015's rule, `recap_slug`: the name lower-cased,
    other characters than a-z and 0-9 as '-', and '-2', '-3', ... when taken). Two
    concurrent sign-ups of one name collide on the unique slug: the later one takes the
    next number (a savepoint keeps the caller's transaction)."""
    base: str = await conn.fetchval("SELECT recap_slug($1)", name)
    while True:
        taken = {
            r["slug"]
            for r in await conn.fetch(
                "SELECT slug FROM tenants WHERE slug = $1 OR slug ~ ('^' || $1 || '-[0-9]+$')",
                base,
            )
        }
        n = 1
        slug = base
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO tenants (id, name, slug) VALUES ($1, $2, $3)",
                    tenant_id,
                    name,
                    slug,
                )
                await conn.execute(
                    "INSERT INTO tenant_sequences (tenant_id) VALUES ($1)", tenant_id
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "tenants_slug_key":
                raise
            continue
        return slug


async def tenant_slug(conn: Conn, tenant_id: str) -> str | None:
    """The tenant's slug (the Orders API's `tenantId`)."""
    slug: str | None = await conn.fetchval("SELECT slug FROM tenants WHERE id = $1", tenant_id)
    return slug


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


#: A user's columns, with their tenant's slug (the subquery's `tenant_id` is the user's).
USER_COLUMNS = """id::text AS id, tenant_id::text AS tenant_id, email, display_name, role,
    active, created_at, (SELECT t.slug FROM tenants t WHERE t.id = tenant_id) AS tenant_slug"""


async def by_email(conn: Conn, email: str) -> asyncpg.Record | None:
    """The user signing in with this (normalized) email, with their password hash."""
    record: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1",  # noqa: S608
        email,
    )
    return record


async def by_id(conn: Conn, tenant_id: str, user_id: str) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users "  # noqa: S608
        "WHERE id = $1 AND tenant_id = $2",
        user_id,
        tenant_id,
    )
    return record


async def email_taken(conn: Conn, email: str, other_than: str | None = None) -> bool:
    """Whether a user (other than `other_than`) signs in with this email, in any tenant."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1 AND id IS DISTINCT FROM $2::uuid)",
            email,
            other_than,
        )
    )


async def in_tenant(conn: Conn, tenant_id: str) -> list[asyncpg.Record]:
    """The tenant's users, with their devices' last sync."""
    records: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {USER_COLUMNS},
                   (SELECT max(last_seen) FROM nodes n WHERE n.tenant_id = u.tenant_id
                      AND n.user_id = u.id) AS last_sync
            FROM users u WHERE tenant_id = $1 ORDER BY lower(display_name), id""",  # noqa: S608
        tenant_id,
    )
    return records


async def set_role(conn: Conn, tenant_id: str, user_id: str, role: str) -> None:
    await conn.execute(
        "UPDATE users SET role = $3 WHERE tenant_id = $1 AND id = $2", tenant_id, user_id, role
    )


async def set_active(conn: Conn, tenant_id: str, user_id: str, active: bool) -> None:
    await conn.execute(
        "UPDATE users SET active = $3 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        user_id,
        active,
    )


async def set_password(conn: Conn, tenant_id: str, user_id: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = $3 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        user_id,
        password_hash,
    )


async def set_identity(
    conn: Conn, tenant_id: str, user_id: str, email: str | None, name: str | None
) -> None:
    """The login email and display name, as the user's profile now has them."""
    await conn.execute(
        """UPDATE users SET email = coalesce($3, email), display_name = coalesce($4, display_name)
           WHERE tenant_id = $1 AND id = $2""",
        tenant_id,
        user_id,
        email,
        name,
    )


async def active_admins(conn: Conn, tenant_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'admin' AND active",
        tenant_id,
    )
    return count


async def lock_user(conn: Conn, tenant_id: str, user_id: str) -> asyncpg.Record | None:
    """The user's row, locked until the transaction ends (role and standing changes)."""
    record: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2 "  # noqa: S608
        "FOR UPDATE",
        tenant_id,
        user_id,
    )
    return record


async def register_node(
    conn: Conn, tenant_id: str, node: str, user_id: str, user_agent: str | None = None
) -> str:
    """Record that `node` is this user's device, on its first sync (later syncs refresh
    `last_seen` and the user agent). `ok`; `taken` if the node id is someone else's
    (another user's device, the tenant's Airtable bridge, or a server process's own
    node); `revoked` if it is this user's revoked device."""
    record = await conn.fetchrow(
        """INSERT INTO nodes (tenant_id, node, user_id, kind, user_agent)
           SELECT $1, $2, $3, 'device', $4
           WHERE NOT EXISTS (SELECT 1 FROM system_nodes WHERE node = $2)
           ON CONFLICT (tenant_id, node) DO UPDATE SET last_seen = EXCLUDED.last_seen,
               user_agent = coalesce(EXCLUDED.user_agent, nodes.user_agent)
           RETURNING user_id, revoked_at IS NOT NULL AS revoked""",
        tenant_id,
        node,
        user_id,
        (user_agent or "")[:300] or None,
    )
    if record is None or str(record["user_id"]) != user_id:
        return "taken"
    return "revoked" if record["revoked"] else "ok"


async def devices(conn: Conn, tenant_id: str, user_id: str | None) -> list[asyncpg.Record]:
    """The tenant's devices (one user's, with `user_id`), newest sync first."""
    records: list[asyncpg.Record] = await conn.fetch(
        """SELECT n.node, n.user_id::text AS user_id, u.display_name AS user_name,
                  n.first_seen, n.last_seen, n.user_agent, n.revoked_at
           FROM nodes n JOIN users u ON u.id = n.user_id
           WHERE n.tenant_id = $1 AND n.kind = 'device' AND ($2::uuid IS NULL OR n.user_id = $2)
           ORDER BY n.last_seen DESC, n.node""",
        tenant_id,
        user_id,
    )
    return records


async def device_owner(conn: Conn, tenant_id: str, node: str) -> str | None:
    owner = await conn.fetchval(
        "SELECT user_id::text FROM nodes WHERE tenant_id = $1 AND node = $2 AND kind = 'device'",
        tenant_id,
        node,
    )
    return str(owner) if owner else None


async def revoke_device(conn: Conn, tenant_id: str, node: str, by: str) -> None:
    await conn.execute(
        """UPDATE nodes SET revoked_at = coalesce(revoked_at, now()), revoked_by = $3
           WHERE tenant_id = $1 AND node = $2""",
        tenant_id,
        node,
        by,
    )


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
