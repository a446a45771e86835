"""A user's say on the conflict notices they are party to (dismissed, or resolved by
re-applying their value), kept on the server so every device of theirs shows the same:
the notices come back in POST /sync's `conflicts` with their new state."""

from __future__ import annotations

from aiohttp import web

from ..httpio import caller, json_response, parse_body
from ..keys import POOL
from ..models import ConflictStatesIn, ConflictStatesOut
from ..operations import operation
from ..storage import conflicts


@operation(
    "POST",
    "/api/v1/conflicts/states",
    "Dismiss conflict notices, or mark them resolved (you re-applied your value)",
    "sync",
    body=ConflictStatesIn,
    response=ConflictStatesOut,
    errors=[400, 422],
)
async def set_conflict_states(request: web.Request) -> web.Response:
    body = await parse_body(request, ConflictStatesIn)
    who = caller(request)
    async with request.app[POOL].acquire() as conn:
        changed = await conflicts.set_states(
            conn, who.tenant_id, who.user_id, body.dismissed, body.resolved
        )
    return json_response({"changed": changed})
