"""The hybrid logical clock: `send` for a local event, `recv` to merge a remote timestamp.

Time is an input (`now_ms`), never read inside, so tests pin exact outputs and a client can
pass its server-corrected time (`Date.now() + offset`). A `Clock` is an immutable value; each
operation returns the next clock and the caller persists it (it must survive restarts, or a
restarted replica could stamp a timestamp it already used).

The algorithm is that of `@actual-app/crdt` v3 (the new time is the greatest of the local,
the physical and the remote one; the counter orders events within a millisecond), with one
deliberate difference: **neither operation ever refuses** (DESIGN.md, "Clock"):

* A counter past 0xFFFF carries into the next millisecond (`(l, 0xFFFF)` is followed by
  `(l + 1, 0)`), as a carry in any positional number: the order stays strict. The
  reference throws instead, so one message with counter FFFF a few minutes ahead made
  every replica that received it fail to sync until that minute had passed.
* There is no drift check here. Remote timestamps reach a replica only through the server,
  which refuses a message stamped more than `max_drift_ms` ahead of its own clock when it
  arrives (`check_drift`); a replica cannot refuse a message it must apply to converge,
  so refusing to move its clock would only stop it.
* A remote timestamp with our own node id moves the clock too: it is one of our own events
  coming back (a reinstalled client that kept its node id must not stamp it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidTimestamp
from .timestamp import MAX_COUNTER, Timestamp, is_node_id

DEFAULT_MAX_DRIFT_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Clock:
    """The latest timestamp this replica has issued or seen."""

    last: Timestamp

    @property
    def node(self) -> str:
        return self.last.node

    @classmethod
    def new(cls, node: str) -> Clock:
        if not is_node_id(node):
            raise InvalidTimestamp(f"node must be 16 lower-case hex digits: {node!r}")
        return cls(Timestamp(0, 0, node))

    def to_json(self) -> dict[str, Any]:
        return {"timestamp": str(self.last)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Clock:
        """A clock saved by `to_json` (a `max_drift_ms` key of older versions is ignored)."""
        return cls(Timestamp.parse(data["timestamp"]))


def _next(millis: int, counter: int, node: str) -> Timestamp:
    """The timestamp (millis, counter), carrying a full counter into the next millisecond."""
    if counter > MAX_COUNTER:
        return Timestamp(millis + 1, 0, node)
    return Timestamp(millis, counter, node)


def send(clock: Clock, now_ms: int) -> tuple[Clock, Timestamp]:
    """Stamp a local event: the next clock and the timestamp to put on the event, after
    every event this clock has issued or seen."""
    l_old, c_old = clock.last.millis, clock.last.counter
    l_new = max(l_old, now_ms)
    ts = _next(l_new, c_old + 1 if l_new == l_old else 0, clock.node)
    return Clock(ts), ts


def recv(clock: Clock, remote: Timestamp, now_ms: int) -> Clock:
    """Merge a remote timestamp so every later local event is ordered after it."""
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
    return Clock(_next(l_new, c_new, clock.node))


def check_drift(millis: int, now_ms: int, max_drift_ms: int = DEFAULT_MAX_DRIFT_MS) -> bool:
    """Whether a timestamp at `millis` is acceptable at `now_ms`: at most `max_drift_ms`
    ahead (the past is always fine: edits made offline days ago). The server applies it to
    every message it accepts, so every clock that follows accepted messages stays within it
    of the server's time."""
    return millis - now_ms <= max_drift_ms
