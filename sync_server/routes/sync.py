"""POST /sync: one round of the protocol (DESIGN.md, "Sync protocol")."""

from __future__ import annotations

import time

from aiohttp import web
from pydantic import ValidationError

from ..errors import Invalid
from ..httpio import caller, compressed, describe, json_response, read_json
from ..keys import METRICS, SYNC
from ..models import SyncIn, SyncOut
from ..operations import operation
from ..protocol import PROTOCOL_HEADER, SyncRequest, check_version


@operation(
    "POST",
    "/sync",
    "One round of the sync protocol (see DESIGN.md)",
    "sync",
    body=SyncIn,
    response=SyncOut,
    errors=[400, 403, 413, 422],
)
async def sync(request: web.Request) -> web.Response:
    started = time.perf_counter()
    check_version(request.headers.get(PROTOCOL_HEADER))
    try:
        body = SyncRequest.model_validate(await read_json(request))
    except ValidationError as exc:
        raise Invalid(describe(exc)) from None
    response = await request.app[SYNC].round(
        caller(request), body, request.headers.get("User-Agent")
    )
    request.app[METRICS].observe_sync(time.perf_counter() - started)
    return compressed(request, json_response(response))
