"""The Airtable connector (admin only): connect a base, see its status, run it now. The API
key goes in and is stored encrypted; no response ever contains it."""

from __future__ import annotations

import secrets
from dataclasses import asdict

from aiohttp import web

from ..airtable.runtime import BOX, BRIDGE
from ..app import POOL, json_response, principal
from ..errors import ApiError, invalid, not_found
from .common import parse_body
from .models import AirtableConnectorIn, AirtableConnectorOut, AirtableRun
from .registry import operation

PATH = "/api/v1/connectors/airtable"


async def _status(request: web.Request, tenant_id: str) -> AirtableConnectorOut:
    async with request.app[POOL].acquire() as conn:
        row = await conn.fetchrow(
            """SELECT base_id, table_name, field_map, schedule_s, state, last_error, last_run_at,
                      (SELECT summary FROM airtable_runs r WHERE r.tenant_id = c.tenant_id
                         AND r.status <> 'running' ORDER BY r.id DESC LIMIT 1) AS last_run
               FROM airtable_connectors c WHERE tenant_id = $1""",
            tenant_id,
        )
    if row is None:
        return AirtableConnectorOut(configured=False)
    return AirtableConnectorOut.model_validate(
        {
            "configured": True,
            "base_id": row["base_id"],
            "table": row["table_name"],
            "field_map": row["field_map"],
            "schedule_s": row["schedule_s"],
            "has_api_key": True,
            "state": row["state"],
            "last_error": row["last_error"],
            "last_run_at": row["last_run_at"],
            "last_run": row["last_run"],
        }
    )


@operation(
    "GET",
    PATH,
    "The Airtable connector's settings and last run (admin)",
    "connectors",
    response=AirtableConnectorOut,
    errors=[403],
)
async def get_airtable(request: web.Request) -> web.Response:
    who = principal(request, admin=True)
    return json_response((await _status(request, who.tenant_id)).model_dump(mode="json"))


@operation(
    "PUT",
    PATH,
    "Connect or reconfigure the Airtable connector (admin)",
    "connectors",
    body=AirtableConnectorIn,
    response=AirtableConnectorOut,
    errors=[400, 403, 422],
)
async def put_airtable(request: web.Request) -> web.Response:
    """Pointing the connector at another base or table starts the mirror over: the links
    and watermarks of the old table mean nothing for the new one."""
    who = principal(request, admin=True)
    body = await parse_body(request, AirtableConnectorIn)
    sealed = request.app[BOX].seal(body.api_key) if body.api_key else None
    field_map = body.field_map.model_dump()
    async with request.app[POOL].acquire() as conn, conn.transaction():
        current = await conn.fetchrow(
            "SELECT base_id, table_name FROM airtable_connectors WHERE tenant_id = $1 FOR UPDATE",
            who.tenant_id,
        )
        if current is None:
            if sealed is None:
                raise invalid("api_key: required when connecting a base")
            await conn.execute(
                """INSERT INTO airtable_connectors (tenant_id, base_id, table_name, api_key_enc,
                       field_map, schedule_s, node) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)""",
                who.tenant_id,
                body.base_id,
                body.table,
                sealed,
                field_map,
                body.schedule_s,
                secrets.token_hex(8),
            )
        else:
            moved = (current["base_id"], current["table_name"]) != (body.base_id, body.table)
            await conn.execute(
                """UPDATE airtable_connectors SET base_id = $2, table_name = $3,
                       api_key_enc = coalesce($4, api_key_enc), field_map = $5::jsonb,
                       schedule_s = $6, state = CASE WHEN $7 THEN 'idle' ELSE state END,
                       last_error = CASE WHEN $7 OR $4 IS NOT NULL THEN NULL ELSE last_error END,
                       import_after = CASE WHEN $7 THEN NULL ELSE import_after END,
                       export_seq = CASE WHEN $7 THEN 0 ELSE export_seq END
                   WHERE tenant_id = $1""",
                who.tenant_id,
                body.base_id,
                body.table,
                sealed,
                field_map,
                body.schedule_s,
                moved,
            )
            if moved:
                await conn.execute("DELETE FROM airtable_links WHERE tenant_id = $1", who.tenant_id)
    return json_response((await _status(request, who.tenant_id)).model_dump(mode="json"))


@operation(
    "DELETE",
    PATH,
    "Disconnect Airtable (admin); Recap's data stays",
    "connectors",
    status=204,
    errors=[403, 404],
)
async def delete_airtable(request: web.Request) -> web.Response:
    who = principal(request, admin=True)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        gone = await conn.fetchval(
            "DELETE FROM airtable_connectors WHERE tenant_id = $1 RETURNING 1", who.tenant_id
        )
        if not gone:
            raise not_found("no Airtable connector")
        await conn.execute("DELETE FROM airtable_links WHERE tenant_id = $1", who.tenant_id)
    return web.Response(status=204)


@operation(
    "POST",
    PATH + "/sync",
    "Run the Airtable connector now and return its summary (admin); concurrent calls share one run",
    "connectors",
    response=AirtableRun,
    errors=[403, 404, 502],
)
async def sync_airtable(request: web.Request) -> web.Response:
    who = principal(request, admin=True)
    summary = await request.app[BRIDGE].trigger(who.tenant_id, "manual")
    if summary.error and summary.error["code"] == "not_configured":
        raise not_found("no Airtable connector; PUT its settings first")
    body = asdict(summary)
    if summary.status != "ok":
        error = summary.error or {"code": "airtable_error", "message": "the run failed"}
        raise ApiError(502, error["code"], error["message"], run=body)
    return json_response(body)
