"""The root of Recap's one error tree, and every error the CRDT core raises.

    RecapError                    every error raised on purpose: a stable `code`, a
    │                             message, and `details` a client may act on
    ├── CrdtError                 (here) the core's errors
    │   ├── InvalidTimestamp      a string that is not a canonical timestamp
    │   └── InvalidMessage        a message that fails validation (shape, type, dataset, column)
    └── ServiceError              (sync_server/errors.py) what a request can run into

The clock never refuses (crdt/hlc.py), so it has no errors of its own: a timestamp too far
ahead is refused where it arrives, by the server (`hlc.check_drift`).

The server maps the whole tree to HTTP in one place (`sync_server/middleware.py`): the
class says the status, `code` and `message` (and `details`) make the JSON body.
"""

from __future__ import annotations

from typing import Any


class RecapError(Exception):
    """An error raised on purpose. `code` is the stable machine-readable name (a class
    default, or given per instance); `details` are extra fields a client may act on (the
    index of a bad message, the server's time)."""

    code = "error"
    default_message = ""

    def __init__(self, message: str = "", *, code: str | None = None, **details: Any) -> None:
        message = message or self.default_message
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class CrdtError(RecapError):
    code = "crdt_error"


class InvalidTimestamp(CrdtError):
    code = "invalid_timestamp"


class InvalidMessage(CrdtError):
    code = "invalid_message"
