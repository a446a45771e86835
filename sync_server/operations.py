"""Operations are declared once, with their models and who may call them; the routes, the
access checks and the OpenAPI document are all generated from the declarations, so neither
the checks nor the document can drift from the code.

`roles` says who may call an operation: `PUBLIC` (no token), `USERS` (any signed-in role)
or a narrower tuple such as `ADMINS`. The route is the handler wrapped in a guard that
authenticates the caller once (one rate-limit token per request), checks the role, and
leaves the principal on the request (`httpio.caller`); a handler never checks auth itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .auth import ROLES, Role
from .httpio import authenticate
from .keys import PRINCIPAL

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PUBLIC: tuple[Role, ...] = ()
USERS: tuple[Role, ...] = ROLES
ADMINS: tuple[Role, ...] = ("admin",)


class ErrorBody(BaseModel):
    """Every error answer: a stable machine-readable `code` and a message for people (some
    errors add fields, e.g. the `index` of a refused message)."""

    code: str
    message: str


ERROR_TEXT = {
    400: "Malformed request",
    401: "Missing, invalid or expired bearer token",
    403: "Not allowed for this role",
    404: "Not found",
    409: "A stale If-Match version, a reused Idempotency-Key, a disallowed status change",
    413: "Request too large",
    422: "Invalid input",
    428: "A precondition header is required",
    429: "Rate limited",
    502: "The upstream service (Airtable) failed; the body says why",
    503: "Temporarily unavailable (the database cannot be reached); retry after Retry-After",
}


@dataclass(frozen=True)
class Header:
    name: str
    required: bool
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string", "maxLength": 200})


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    status: int = 200
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    headers: list[Header] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    #: who may call it: PUBLIC, USERS, or the roles allowed (e.g. ADMINS)
    roles: tuple[Role, ...] = USERS
    #: routed and guarded but left out of the OpenAPI document (a WebSocket, Prometheus text)
    documented: bool = True
    #: authenticated by a short-lived `?ticket=` instead of the header (the WebSocket)
    ticket: bool = False
    response_headers: dict[str, str] = field(default_factory=dict)
    #: other success statuses answered with the same body (e.g. 200 for a replayed create)
    also: dict[int, str] = field(default_factory=dict)


OPERATIONS: list[Operation] = []


def operation(
    method: str, path: str, summary: str, tag: str, **kw: Any
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        OPERATIONS.append(Operation(method, path, handler, summary, tag, **kw))
        return handler

    return register


def guarded(op: Operation) -> Handler:
    """The handler behind the access check its declaration asks for."""
    if not op.roles:
        return op.handler
    handler, roles, ticket = op.handler, op.roles, op.ticket

    async def guard(request: web.Request) -> web.StreamResponse:
        request[PRINCIPAL] = await authenticate(request, roles, ticket)
        return await handler(request)

    guard.__name__ = handler.__name__
    guard.__doc__ = handler.__doc__
    return guard


def add_routes(app: web.Application) -> None:
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, guarded(op))


def build_openapi() -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorBody}
    documented = [op for op in OPERATIONS if op.documented]
    for op in documented:
        for model in (op.body, op.response):
            if model is not None:
                models.add(model)
    ordered = sorted(models, key=lambda m: m.__name__)
    _, schema = models_json_schema(
        [(m, "serialization") for m in ordered] + [(m, "validation") for m in ordered],
        ref_template="#/components/schemas/{model}",
    )
    components = schema.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for op in documented:
        item: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": op.handler.__name__,
            "responses": _responses(op),
        }
        params = (
            _path_params(op.path)
            + _query_params(op.query)
            + [
                {
                    "name": h.name,
                    "in": "header",
                    "required": h.required,
                    "description": h.description,
                    "schema": h.schema,
                }
                for h in op.headers
            ]
        )
        if params:
            item["parameters"] = params
        if op.body is not None:
            item["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(op.body)}},
            }
        if op.roles:
            item["security"] = [{"bearer": []}]
            item["x-roles"] = list(op.roles)
            if op.roles != USERS:
                item["description"] = f"Requires the {' or '.join(op.roles)} role."
        else:
            item["security"] = []
        paths.setdefault(op.path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",  # pydantic emits JSON Schema 2020-12, the 3.1 dialect
        "info": {
            "title": "Recap API",
            "version": "1.0.0",
            "description": "Integration REST API and sync protocol of Recap. Every error is "
            '`{"code": ..., "message": ...}`.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _responses(op: Operation) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": _ref(op.response)}}
    if op.response_headers:
        ok["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in op.response_headers.items()
        }
    out: dict[str, Any] = {str(op.status): ok}
    for status, text in op.also.items():
        out[str(status)] = {**ok, "description": text}
    codes = set(op.errors) | ({401, 429} if op.roles else set()) | {503}
    if op.roles and op.roles != USERS:
        codes.add(403)
    for code in sorted(codes):
        out[str(code)] = {
            "description": ERROR_TEXT.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
    return out


def _path_params(path: str) -> list[dict[str, Any]]:
    out = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            schema = (  # a device's node id, else a row or record id
                {"type": "string", "pattern": "^[0-9a-f]{16}$"}
                if name == "node"
                else {"type": "string", "format": "uuid"}
            )
            out.append({"name": name, "in": "path", "required": True, "schema": schema})
    return out


def _query_params(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        if "anyOf" in prop:  # Optional[X] -> X (absent means null)
            variants = [v for v in prop.pop("anyOf") if v.get("type") != "null"]
            if len(variants) == 1:
                prop.update(variants[0])
        prop.pop("default", None)
        out.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return out
