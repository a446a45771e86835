"""Who wrote what, for the diagnostics page and the `diff` CLI: the name of the sender of
stored messages, and the name behind node ids (a device's user, the Airtable bridge, a
server process). The rows a description names come from `registers.read`."""

from __future__ import annotations

from .common import Conn

#: What a node that is not a user's device is called.
BRIDGE_NAME = "Airtable import"
SERVER_NAME = "server"


async def senders(conn: Conn, tenant_id: str, timestamps: list[str]) -> dict[str, str]:
    """The name of who sent each of these stored messages: the user the server recorded
    with it, else the owner of the device whose node stamped it, else the bridge."""
    if not timestamps:
        return {}
    records = await conn.fetch(
        """SELECT m.timestamp, u.display_name AS sender, du.display_name AS owner, n.kind
           FROM messages m
           LEFT JOIN users u ON u.id = m.user_id
           LEFT JOIN nodes n ON n.tenant_id = $1 AND n.node = right(m.timestamp, 16)
           LEFT JOIN users du ON du.id = n.user_id
           WHERE m.tenant_id = $1 AND m.timestamp = ANY($2::text[])""",
        tenant_id,
        timestamps,
    )
    out = {}
    for r in records:
        name = r["sender"] or r["owner"] or (BRIDGE_NAME if r["kind"] == "bridge" else None)
        if name:
            out[r["timestamp"]] = name
    return out


async def node_names(conn: Conn, tenant_id: str, nodes: list[str]) -> dict[str, str]:
    """The name behind each of these node ids that the tenant knows: its device's user, the
    tenant's Airtable bridge, or a server process."""
    if not nodes:
        return {}
    records = await conn.fetch(
        """SELECT n.node, n.kind, u.display_name AS owner FROM nodes n
           LEFT JOIN users u ON u.id = n.user_id
           WHERE n.tenant_id = $1 AND n.node = ANY($2::text[])""",
        tenant_id,
        nodes,
    )
    out = {
        r["node"]: r["owner"] or (BRIDGE_NAME if r["kind"] == "bridge" else r["node"])
        for r in records
    }
    for r in await conn.fetch(
        "SELECT node FROM system_nodes WHERE node = ANY($1::text[])", list(set(nodes) - set(out))
    ):
        out[r["node"]] = SERVER_NAME
    return out
