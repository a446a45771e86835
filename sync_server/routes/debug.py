"""GET /debug/merkle and POST /debug/merkle/compare (any signed-in user, own tenant only:
a rep's device already syncs every message of its tenant, so it learns nothing new here).

GET returns the server's trie in the reference's JSON form, optionally a subtree (`path`)
and pruned (`prune=n`) or cut at a depth (`depth`). POST takes a replica's trie (reference
JSON form: the app's diagnostics page sends its device's, the `diff` CLI another side's)
and returns every divergent range with the server's messages in them (bounded), described
in human terms, and which of them the replica lacks, so an engineer or a rep sees exactly
where two replicas differ (DESIGN.md, "Diagnostics")."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from crdt.errors import InvalidMessage
from crdt.message import Message
from crdt.timestamp import is_node_id

from ..errors import BadRequest, Invalid
from ..httpio import caller, json_response, read_json
from ..keys import POOL
from ..models import MerkleCompareIn, MerkleCompareOut, MerkleView
from ..operations import USERS, operation
from ..services import diagnostics

#: The most messages (and node ids) a compare request may ask to describe.
MAX_GIVEN = 1000


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
    roles=USERS,
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
    roles=USERS,
)
async def compare_merkle(request: web.Request) -> web.Response:
    body = await read_json(request)
    trie = body.get("trie") if isinstance(body, dict) else None
    if not isinstance(trie, dict) or not diagnostics.is_trie(trie):
        raise Invalid('body must be {"trie": <trie in the reference JSON form>}')
    given, nodes = body.get("messages", []), body.get("nodes", [])
    if not isinstance(given, list) or len(given) > MAX_GIVEN:
        raise Invalid(f"messages must be a list of at most {MAX_GIVEN} messages")
    if not isinstance(nodes, list) or len(nodes) > MAX_GIVEN:
        raise Invalid(f"nodes must be a list of at most {MAX_GIVEN} node ids")
    for node in nodes:
        if not isinstance(node, str) or not is_node_id(node):
            raise Invalid("nodes must be node ids (16 lower-case hex digits)")
    parsed = []
    for i, item in enumerate(given):
        try:
            parsed.append(Message.from_json(item))
        except InvalidMessage as exc:
            raise Invalid(f"message {i}: {exc}", index=i) from None
    return json_response(
        await diagnostics.compare(request.app[POOL], caller(request).tenant_id, trie, parsed, nodes)
    )
