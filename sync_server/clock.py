"""The server's clocks: the only code that reads the wall clock for the sync engine, stamps
the server's own edits, or advances the server's hybrid logical clock.

A server process has its own node id. Its HLC stamps the edits the REST API makes on an
integration's behalf, and follows every timestamp the process stores, so a REST write
orders after everything the server had seen when it was made (as a rep's later edit
would). The Airtable bridge stamps imports with its own node at each record's Airtable
modification time (`ImportStamper`), an HLC step at a given time rather than now.

Wall time is an input (`wall`), so tests can pin it; nothing else in the server calls
`time.time()` for the engine.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from crdt import hlc
from crdt.errors import ClockError
from crdt.merge import Register
from crdt.message import Message, Scalar
from crdt.schema import validate
from crdt.timestamp import MAX_COUNTER, Timestamp, node_of

from .errors import Unavailable

#: (dataset, row, column, value): one field a server-side write sets
Edit = tuple[str, str, str, Scalar]
#: (dataset, row) -> the row's current registers
RowRegisters = Mapping[tuple[str, str], Mapping[str, Register]]


def wall_ms() -> int:
    """Physical time in epoch milliseconds."""
    return int(time.time() * 1000)


def new_node() -> str:
    """A fresh random 64-bit node id (16 lower-case hex digits)."""
    return secrets.token_hex(8)


class ServerClock:
    """The HLC of this server process's own node, with the wall clock it reads."""

    def __init__(self, node: str, max_drift_ms: int, wall: Callable[[], int] = wall_ms) -> None:
        self._clock = hlc.Clock.new(node, max_drift_ms)
        self._wall = wall

    @property
    def node(self) -> str:
        return self._clock.node

    @property
    def last(self) -> Timestamp:
        return self._clock.last

    def now_ms(self) -> int:
        return self._wall()

    def observe(self, timestamps: Iterable[str], now_ms: int | None = None) -> None:
        """Move past the newest of `timestamps` (messages this process just stored), so the
        server's own writes order after them. The drift check already bounded them when
        they were accepted; a clock error here is not the sender's fault and is ignored."""
        newest = max((t for t in timestamps if node_of(t) != self.node), default=None)
        if newest is None:
            return
        with contextlib.suppress(ClockError):
            self._clock = hlc.recv(
                self._clock, Timestamp.parse(newest), self._wall() if now_ms is None else now_ms
            )

    def stamp(self, current: RowRegisters, edits: Sequence[Edit]) -> list[Message]:
        """Messages for server-side edits, stamped after everything the edited rows hold
        (so they win exactly as a rep's later edit would), each with the `prev` it
        overwrites (so a concurrent rep edit is reported as a conflict). Validated: an edit
        the schema refuses raises InvalidMessage and nothing is stamped."""
        now = self._wall()
        clock = self._clock
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
                message = Message(
                    dataset, row, column, value, str(ts), prev.timestamp if prev else None
                )
                validate(message)
                out.append(message)
        except ClockError as exc:
            raise Unavailable(
                f"server clock refused the write: {exc}", code="clock_error"
            ) from None
        self._clock = clock
        return out


class ImportStamper:
    """Stamps for one of the server's import nodes (the Airtable bridge's), at the times the
    source says the data changed rather than now: an HLC step at a given time, so stamps
    stay unique and ordered however many records share a millisecond. Pure: the planner
    that uses it runs without I/O."""

    def __init__(self, node: str, last: str | None) -> None:
        self.last = Timestamp.parse(last) if last else Timestamp(0, 0, node)

    def stamp(self, millis: int) -> str:
        last = self.last
        if millis > last.millis:
            self.last = Timestamp(millis, 0, last.node)
        elif last.counter < MAX_COUNTER:
            self.last = Timestamp(last.millis, last.counter + 1, last.node)
        else:  # the counter is full: carry into the next millisecond
            self.last = Timestamp(last.millis + 1, 0, last.node)
        return str(self.last)
