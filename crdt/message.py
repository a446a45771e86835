"""Messages: one field edit, `(dataset, row, column, value, timestamp)`; the node is inside
the timestamp.

Values are JSON scalars. `prev` is optional metadata, not part of the message's identity or
of the merge: the timestamp of the field value the writer saw when it made the edit. It lets
a receiver tell a sequential overwrite (the writer saw the old value) from a concurrent one
(it did not), which is what a conflict notice needs; LWW convergence never looks at it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import InvalidMessage, InvalidTimestamp
from .timestamp import NODE_LENGTH, checked_message_millis, checked_millis

Scalar = str | int | float | bool | None

MAX_STRING_VALUE = 256 * 1024
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_MAX_ROW = 128


@dataclass(frozen=True, slots=True)
class Message:
    dataset: str
    row: str
    column: str
    value: Scalar
    timestamp: str
    prev: str | None = None

    @property
    def node(self) -> str:
        return self.timestamp[-NODE_LENGTH:]

    @property
    def field(self) -> tuple[str, str, str]:
        return (self.dataset, self.row, self.column)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "timestamp": self.timestamp,
        }
        if self.prev is not None:
            out["prev"] = self.prev
        return out

    @classmethod
    def from_json(cls, data: Any) -> Message:
        """Validate the shape of one message; raise InvalidMessage with the reason."""
        if not isinstance(data, dict):
            raise InvalidMessage("a message must be a JSON object")
        unknown = set(data) - {"dataset", "row", "column", "value", "timestamp", "prev"}
        if unknown:
            raise InvalidMessage(f"unknown message keys: {sorted(unknown)[:5]}")
        dataset, row, column = data.get("dataset"), data.get("row"), data.get("column")
        for label, name in (("dataset", dataset), ("column", column)):
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise InvalidMessage(f"{label} must be a lower-case identifier")
        if not isinstance(row, str) or not 0 < len(row) <= _MAX_ROW:
            raise InvalidMessage(f"row must be a string of 1..{_MAX_ROW} characters")
        if "value" not in data:
            raise InvalidMessage("value is required (null is a value)")
        value = check_scalar(data["value"])
        timestamp = data.get("timestamp")
        prev = data.get("prev")
        try:
            checked_message_millis(timestamp)
            if prev is not None:
                checked_millis(prev)
        except InvalidTimestamp as exc:
            raise InvalidMessage(str(exc)) from None
        assert isinstance(dataset, str) and isinstance(column, str)
        assert isinstance(timestamp, str)
        return cls(dataset, row, column, value, timestamp, prev)


def check_scalar(value: Any) -> Scalar:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -(2**53) <= value <= 2**53:
            raise InvalidMessage("integer value outside the exact range of a JSON number")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidMessage("number value must be finite")
        if not -(2**53) <= value <= 2**53:  # as JavaScript reads numbers: the same set
            raise InvalidMessage("number value outside the exact range of a JSON number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING_VALUE:
            raise InvalidMessage(f"string value longer than {MAX_STRING_VALUE} characters")
        if "\x00" in value:
            # No text column of a database (nor most replicas' stores) can hold NUL.
            raise InvalidMessage("string values cannot contain NUL (U+0000)")
        return value
    raise InvalidMessage(f"value must be a JSON scalar, got {type(value).__name__}")


def encode(messages: list[Message]) -> bytes:
    return orjson.dumps([m.to_json() for m in messages])


def decode(payload: bytes | str) -> list[Message]:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise InvalidMessage("expected a JSON array of messages")
    return [Message.from_json(item) for item in data]
