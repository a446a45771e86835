"""A tenant's Airtable connector: its settings as the API shows them, connecting or
reconfiguring it, disconnecting it. The API key goes in and is stored encrypted; nothing
here ever returns it."""

from __future__ import annotations

import asyncpg

from ..clock import new_node
from ..errors import Invalid, NotFound
from ..models import AirtableConnectorIn, AirtableConnectorOut
from ..storage import connectors, users
from .secrets_box import SecretsBox


async def status(pool: asyncpg.Pool, tenant_id: str) -> AirtableConnectorOut:
    async with pool.acquire() as conn:
        row = await connectors.status(conn, tenant_id)
    if row is None:
        return AirtableConnectorOut(configured=False)
    return AirtableConnectorOut.model_validate(
        {
            "configured": True,
            "base_id": row["base_id"],
            "table": row["table_name"],
            "field_map": row["field_map"],
            "mode": row["mode"],
            "schedule_s": row["schedule_s"],
            "has_api_key": True,
            "state": row["state"],
            "last_error": row["last_error"],
            "last_run_at": row["last_run_at"],
            "last_run": row["last_run"],
        }
    )


async def configure(
    pool: asyncpg.Pool, box: SecretsBox, tenant_id: str, body: AirtableConnectorIn
) -> None:
    """Connect, or change the settings (in "orders" mode the field map stored is
    `orders_field_map`). Pointing the connector at another base or table starts the mirror
    over (so does changing the mode): the links and watermarks of the old table mean
    nothing for the new one. The connector gets a node id of its own when first
    connected."""
    sealed = box.seal(body.api_key) if body.api_key else None
    fields = body.orders_field_map if body.mode == "orders" else body.field_map
    field_map = fields.model_dump()
    async with pool.acquire() as conn, conn.transaction():
        current = await connectors.target_for_update(conn, tenant_id)
        if current is None:
            if sealed is None:
                raise Invalid("api_key: required when connecting a base")
            node = new_node()
            while not await users.register_bridge_node(conn, tenant_id, node):
                node = new_node()
            await connectors.create(
                conn,
                tenant_id,
                body.base_id,
                body.table,
                sealed,
                field_map,
                body.schedule_s,
                node,
                body.mode,
            )
            return
        # Another mode reads the table differently: its links mean nothing either.
        moved = current != (body.base_id, body.table) or (
            await connectors.mode(conn, tenant_id) != body.mode
        )
        await connectors.reconfigure(
            conn,
            tenant_id,
            body.base_id,
            body.table,
            sealed,
            field_map,
            body.schedule_s,
            moved,
            body.mode,
        )
        if moved:
            await connectors.delete_links(conn, tenant_id)


async def disconnect(pool: asyncpg.Pool, tenant_id: str) -> None:
    """Forget the connector and its links; Recap's data stays."""
    async with pool.acquire() as conn, conn.transaction():
        if not await connectors.delete(conn, tenant_id):
            raise NotFound("no Airtable connector")
        await connectors.delete_links(conn, tenant_id)
