"""Every error the CRDT core raises, in one place.

    CrdtError
    ├── InvalidTimestamp      a string that is not a canonical timestamp
    ├── ClockError            the clock refused to move
    │   ├── ClockDriftError   a timestamp too far ahead of physical time
    │   ├── CounterOverflow   more than 0xFFFF events in one millisecond
    │   └── DuplicateNodeError  a remote timestamp carries our own node id
    └── InvalidMessage        a message that fails validation (bad shape, type, dataset, column)

Callers map these to protocol errors in one place (the server's error middleware); the
`code` attribute is the stable machine-readable name used there.
"""

from __future__ import annotations


class CrdtError(Exception):
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
