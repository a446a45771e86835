"""GET /debug/merkle and POST /debug/merkle/compare (admin only, own tenant only).

GET returns the server's trie in the reference's JSON form, optionally a subtree (`path`)
and pruned (`prune=n`) or cut at a depth (`depth`). POST takes a replica's trie (reference
JSON form, e.g. exported from a client) and returns every divergent range with the
server's messages in them (bounded), so an engineer can see exactly where two replicas
differ."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from ..errors import BadRequest, Invalid
from ..httpio import caller, json_response, read_json
from ..keys import POOL
from ..models import MerkleCompareIn, MerkleCompareOut, MerkleView
from ..operations import ADMINS, operation
from ..services import diagnostics


class MerkleQuery(BaseModel):
    path: str | None = Field(default=None, pattern=r"^[012]{0,16}$")
    depth: int | None = Field(default=None, ge=0, le=16)
    prune: int | None = Field(default=None, ge=0, le=16)


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 16:
        raise BadRequest(f"{name} must be an integer from 0 to 16")
    return int(raw)


@operation(
    "GET",
    "/debug/merkle",
    "The tenant's merkle trie",
    "debug",
    errors=[400],
    query=MerkleQuery,
    response=MerkleView,
    roles=ADMINS,
)
async def get_merkle(request: web.Request) -> web.Response:
    path = request.query.get("path", "")
    if len(path) > 16 or any(c not in "012" for c in path):
        raise BadRequest("path must be up to 16 base-3 digits")
    view = await diagnostics.trie_view(
        request.app[POOL],
        caller(request).tenant_id,
        path,
        _int_param(request, "depth"),
        _int_param(request, "prune"),
    )
    return json_response(view)


@operation(
    "POST",
    "/debug/merkle/compare",
    "Divergent ranges against a replica's trie",
    "debug",
    body=MerkleCompareIn,
    response=MerkleCompareOut,
    errors=[400, 422],
    roles=ADMINS,
)
async def compare_merkle(request: web.Request) -> web.Response:
    body = await read_json(request)
    trie = body.get("trie") if isinstance(body, dict) else None
    if not isinstance(trie, dict) or not diagnostics.is_trie(trie):
        raise Invalid('body must be {"trie": <trie in the reference JSON form>}')
    return json_response(
        await diagnostics.compare(request.app[POOL], caller(request).tenant_id, trie)
    )
