"""The Airtable connector (admin only): connect a base, see its status, run it now."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from ..airtable import connector
from ..errors import NotFound, UpstreamFailed
from ..httpio import caller, json_response, parse_body
from ..keys import BRIDGE, POOL, SECRETS_BOX
from ..models import AirtableConnectorIn, AirtableConnectorOut, AirtableRun
from ..operations import ADMINS, operation

PATH = "/api/v1/connectors/airtable"


@operation(
    "GET",
    PATH,
    "The Airtable connector's settings and last run",
    "connectors",
    response=AirtableConnectorOut,
    roles=ADMINS,
)
async def get_airtable(request: web.Request) -> web.Response:
    found = await connector.status(request.app[POOL], caller(request).tenant_id)
    return json_response(found.model_dump(mode="json"))


@operation(
    "PUT",
    PATH,
    "Connect or reconfigure the Airtable connector",
    "connectors",
    body=AirtableConnectorIn,
    response=AirtableConnectorOut,
    errors=[400, 422],
    roles=ADMINS,
)
async def put_airtable(request: web.Request) -> web.Response:
    tenant = caller(request).tenant_id
    body = await parse_body(request, AirtableConnectorIn)
    await connector.configure(request.app[POOL], request.app[SECRETS_BOX], tenant, body)
    found = await connector.status(request.app[POOL], tenant)
    return json_response(found.model_dump(mode="json"))


@operation(
    "DELETE",
    PATH,
    "Disconnect Airtable; Recap's data stays",
    "connectors",
    status=204,
    errors=[404],
    roles=ADMINS,
)
async def delete_airtable(request: web.Request) -> web.Response:
    await connector.disconnect(request.app[POOL], caller(request).tenant_id)
    return web.Response(status=204)


@operation(
    "POST",
    PATH + "/sync",
    "Run the Airtable connector now and return its summary; concurrent calls share one run",
    "connectors",
    response=AirtableRun,
    errors=[404, 502],
    roles=ADMINS,
)
async def sync_airtable(request: web.Request) -> web.Response:
    summary = await request.app[BRIDGE].trigger(caller(request).tenant_id, "manual")
    if summary.error and summary.error["code"] == "not_configured":
        raise NotFound("no Airtable connector; PUT its settings first")
    body = asdict(summary)
    if summary.status != "ok":
        error = summary.error or {"code": "airtable_error", "message": "the run failed"}
        raise UpstreamFailed(error["message"], code=error["code"], run=body)
    return json_response(body)
