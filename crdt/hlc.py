"""The hybrid logical clock: `send` for a local event, `recv` to merge a remote timestamp.

Time is an input (`now_ms`), never read inside, so tests pin exact outputs and a client can
pass its server-corrected time (`Date.now() + offset`). A `Clock` is an immutable value; each
operation returns the next clock and the caller persists it (it must survive restarts, or a
restarted replica could stamp a timestamp it already used).

The algorithm and limits are those of `@actual-app/crdt` v3, with one addition: `recv`
refuses a remote timestamp that carries our own node id, which means two replicas share a
node id and would silently produce colliding timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ClockDriftError, CounterOverflow, DuplicateNodeError, InvalidTimestamp
from .timestamp import MAX_COUNTER, Timestamp, is_node_id

DEFAULT_MAX_DRIFT_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Clock:
    """The latest timestamp this replica has issued or seen, and its drift limit."""

    last: Timestamp
    max_drift_ms: int = DEFAULT_MAX_DRIFT_MS

    @property
    def node(self) -> str:
        return self.last.node

    @classmethod
    def new(cls, node: str, max_drift_ms: int = DEFAULT_MAX_DRIFT_MS) -> Clock:
        if not is_node_id(node):
            raise InvalidTimestamp(f"node must be 16 lower-case hex digits: {node!r}")
        return cls(Timestamp(0, 0, node), max_drift_ms)

    def to_json(self) -> dict[str, Any]:
        return {"timestamp": str(self.last), "max_drift_ms": self.max_drift_ms}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Clock:
        drift = data.get("max_drift_ms", DEFAULT_MAX_DRIFT_MS)
        if not isinstance(drift, int) or isinstance(drift, bool) or drift < 0:
            raise InvalidTimestamp(f"bad max_drift_ms: {drift!r}")
        return cls(Timestamp.parse(data["timestamp"]), drift)


def send(clock: Clock, now_ms: int) -> tuple[Clock, Timestamp]:
    """Stamp a local event: the next clock and the timestamp to put on the event."""
    l_old, c_old = clock.last.millis, clock.last.counter
    l_new = max(l_old, now_ms)
    c_new = c_old + 1 if l_old == l_new else 0
    if l_new - now_ms > clock.max_drift_ms:
        raise ClockDriftError(l_new, now_ms, clock.max_drift_ms)
    if c_new > MAX_COUNTER:
        raise CounterOverflow()
    ts = Timestamp(l_new, c_new, clock.node)
    return Clock(ts, clock.max_drift_ms), ts


def recv(clock: Clock, remote: Timestamp, now_ms: int) -> Clock:
    """Merge a remote timestamp so every later local event is ordered after it."""
    if remote.node == clock.node:
        raise DuplicateNodeError(clock.node)
    if remote.millis - now_ms > clock.max_drift_ms:
        raise ClockDriftError(remote.millis, now_ms, clock.max_drift_ms)
    l_old, c_old = clock.last.millis, clock.last.counter
    l_msg, c_msg = remote.millis, remote.counter
    l_new = max(l_old, now_ms, l_msg)
    if l_new == l_old and l_new == l_msg:
        c_new = max(c_old, c_msg) + 1
    elif l_new == l_old:
        c_new = c_old + 1
    elif l_new == l_msg:
        c_new = c_msg + 1
    else:
        c_new = 0
    if l_new - now_ms > clock.max_drift_ms:
        raise ClockDriftError(l_new, now_ms, clock.max_drift_ms)
    if c_new > MAX_COUNTER:
        raise CounterOverflow()
    return Clock(Timestamp(l_new, c_new, clock.node), clock.max_drift_ms)
