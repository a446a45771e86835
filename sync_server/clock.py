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

import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from crdt import hlc
from crdt.merge import Register
from crdt.message import Message, Scalar
from crdt.schema import validate
from crdt.timestamp import Timestamp

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

    def __init__(
        self,
        node: str,
        max_drift_ms: int = hlc.DEFAULT_MAX_DRIFT_MS,
        wall: Callable[[], int] = wall_ms,
    ) -> None:
        self._clock = hlc.Clock.new(node)
        self.max_drift_ms = max_drift_ms
        self._wall = wall

    @property
    def node(self) -> str:
        return self._clock.node

    @property
    def last(self) -> Timestamp:
        return self._clock.last

    def now_ms(self) -> int:
        return self._wall()

    def accepts(self, millis: int, now_ms: int) -> bool:
        """Whether a message stamped at `millis` may be stored at `now_ms`: not more than
        `max_drift_ms` ahead (DESIGN.md, "Clock"). Every clock that only follows accepted
        messages then stays within that of the server's time."""
        return hlc.check_drift(millis, now_ms, self.max_drift_ms)

    def observe(self, timestamps: Iterable[str], now_ms: int | None = None) -> None:
        """Move past the newest of `timestamps` (messages this process just stored), so the
        server's own writes order after them."""
        newest = max(timestamps, default=None)
        if newest is not None:
            now = self._wall() if now_ms is None else now_ms
            self._clock = hlc.recv(self._clock, Timestamp.parse(newest), now)

    def stamp(self, current: RowRegisters, edits: Sequence[Edit]) -> list[Message]:
        """Messages for server-side edits, stamped after everything the edited rows hold
        (so they win exactly as a rep's later edit would), each with the `prev` it
        overwrites (so a concurrent rep edit is reported as a conflict). Validated: an edit
        the schema refuses raises InvalidMessage and nothing is stamped."""
        now = self._wall()
        clock = self._clock
        for regs in current.values():
            for reg in regs.values():
                clock = hlc.recv(clock, Timestamp.parse(reg.timestamp), now)
        out = []
        for dataset, row, column, value in edits:
            clock, ts = hlc.send(clock, now)
            prev = current.get((dataset, row), {}).get(column)
            message = Message(
                dataset, row, column, value, str(ts), prev.timestamp if prev else None
            )
            validate(message)
            out.append(message)
        self._clock = clock
        return out


class ImportStamper:
    """Stamps for one of the server's import nodes (the Airtable bridge's), at the times the
    source says the data changed rather than now: an HLC step at a given time, so stamps
    stay unique and ordered however many records share a millisecond. Pure: the planner
    that uses it runs without I/O."""

    def __init__(self, node: str, last: str | None) -> None:
        self._clock = hlc.Clock(Timestamp.parse(last)) if last else hlc.Clock.new(node)

    @property
    def last(self) -> Timestamp:
        return self._clock.last

    def stamp(self, millis: int) -> str:
        self._clock, ts = hlc.send(self._clock, millis)
        return str(ts)
