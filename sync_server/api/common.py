"""What every REST handler needs: parsing with pydantic into `{code, message}` errors, and
turning a server-side write into messages from the server's own node."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from crdt import hlc
from crdt.errors import ClockError, InvalidMessage
from crdt.merge import Register
from crdt.message import Message, Scalar
from crdt.schema import validate
from crdt.timestamp import Timestamp

from ..app import CLOCK
from ..errors import ApiError, bad_request, invalid, not_found

M = TypeVar("M", bound=BaseModel)


def describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


async def parse_body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(describe(exc)) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise invalid(describe(exc)) from None


def path_uuid(request: web.Request, name: str = "id") -> str:
    raw = request.match_info[name]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise not_found(f"no such {name}: not a UUID") from None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(text: str, size: int) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except Exception as exc:
        raise bad_request("malformed cursor") from exc
    if not isinstance(values, list) or len(values) != size:
        raise bad_request("malformed cursor")
    if not all(
        isinstance(v, str) and len(v) <= 64 and v.isascii() and v.isprintable() for v in values
    ):
        raise bad_request("malformed cursor")
    return values


def decode_keyset_cursor(text: str) -> tuple[str, str]:
    """A `(sort key, row id)` cursor; the id must be a UUID, since the query casts it."""
    key, row = decode_cursor(text, 2)
    try:
        uuid.UUID(row)
    except ValueError:
        raise bad_request("malformed cursor") from None
    return key, row


def etag_of(registers: dict[str, Register]) -> str:
    """A record's version: the latest timestamp among its fields (quoted, as ETags are)."""
    latest = max((r.timestamp for r in registers.values()), default="")
    return f'"{latest}"'


def stamp(
    request: web.Request,
    current: dict[tuple[str, str], dict[str, Register]],
    edits: Sequence[tuple[str, str, str, Scalar]],
) -> list[Message]:
    """Messages for server-side edits, stamped by the server's own clock after everything
    the edited fields hold (so they win exactly as a rep's later edit would), each with the
    `prev` it overwrites (so a concurrent rep edit is reported as a conflict)."""
    holder = request.app[CLOCK]
    now = int(time.time() * 1000)
    clock = holder[0]
    try:
        for regs in current.values():
            for reg in regs.values():
                ts = Timestamp.parse(reg.timestamp)
                if ts.node != clock.node and ts > clock.last:
                    clock = hlc.recv(clock, ts, now)
        out = []
        for dataset, row, column, value in edits:
            clock, ts = hlc.send(clock, now)
            prev = current.get((dataset, row), {}).get(column)
            prev_ts = prev.timestamp if prev else None
            message = Message(dataset, row, column, value, str(ts), prev_ts)
            validate(message)
            out.append(message)
    except InvalidMessage as exc:
        raise invalid(str(exc)) from None
    except ClockError as exc:
        raise ApiError(503, "clock_error", f"server clock refused the write: {exc}") from None
    holder[0] = clock
    return out
