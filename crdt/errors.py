"""The root of Recap's one error tree, and every error the CRDT core raises.

    RecapError                    every error raised on purpose: a stable `code`, a
    │                             message, and `details` a client may act on
    ├── CrdtError                 (here) the core's errors
    │   ├── InvalidTimestamp      a string that is not a canonical timestamp
    │   ├── ClockError            the clock refused to move
    │   │   ├── ClockDriftError   a timestamp too far ahead of physical time
    │   │   ├── CounterOverflow   more than 0xFFFF events in one millisecond
    │   │   └── DuplicateNodeError  a remote timestamp carries our own node id
    │   └── InvalidMessage        a message that fails validation (shape, type, dataset, column)
    └── ServiceError              (sync_server/errors.py) what a request can run into

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


class ClockError(CrdtError):
    code = "clock_error"


class ClockDriftError(ClockError):
    code = "clock_drift"

    def __init__(self, timestamp_millis: int, now_millis: int, max_drift_ms: int) -> None:
        self.timestamp_millis = timestamp_millis
        self.now_millis = now_millis
        self.max_drift_ms = max_drift_ms
        super().__init__(
            f"timestamp is {timestamp_millis - now_millis} ms ahead of physical time "
            f"(maximum drift {max_drift_ms} ms)"
        )


class CounterOverflow(ClockError):
    code = "counter_overflow"

    def __init__(self) -> None:
        super().__init__("timestamp counter overflow (more than 65535 events in one millisecond)")


class DuplicateNodeError(ClockError):
    code = "duplicate_node"

    def __init__(self, node: str) -> None:
        self.node = node
        super().__init__(f"remote timestamp carries this replica's own node id {node}")


class InvalidMessage(CrdtError):
    code = "invalid_message"
