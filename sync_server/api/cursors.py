"""The REST API's keyset cursors: the sort key and id of a page's last row, opaque to the
client (base64url JSON), checked on the way back in."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson

from ..errors import BadRequest


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(text: str, size: int) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except Exception as exc:
        raise BadRequest("malformed cursor") from exc
    if not isinstance(values, list) or len(values) != size:
        raise BadRequest("malformed cursor")
    if not all(
        isinstance(v, str) and len(v) <= 64 and v.isascii() and v.isprintable() for v in values
    ):
        raise BadRequest("malformed cursor")
    return values


def decode_keyset_cursor(text: str) -> tuple[str, str]:
    """A `(sort key, row id)` cursor; the id must be a UUID, since the query casts it."""
    key, row = decode_cursor(text, 2)
    try:
        uuid.UUID(row)
    except ValueError:
        raise BadRequest("malformed cursor") from None
    return key, row
