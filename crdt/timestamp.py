"""Hybrid-logical-clock timestamps in the exact string form of `@actual-app/crdt` v3.

`2026-11-23T06:00:00.005Z-001A-abcdef0123456789`: ISO-8601 UTC with millis, the counter as
4 upper-case hex digits, the node as 16 lower-case hex digits. The string is fixed-width, so
text order is timestamp order and the database can index and range-scan it without parsing.

Only the canonical form is accepted (`parse(str(ts)) == ts` and `str(parse(s)) == s`): the
string is the message's primary key, so two spellings of one timestamp would defeat dedup.
"""

from __future__ import annotations

import calendar
import functools
import re
import time
from dataclasses import dataclass

import mmh3

from .errors import InvalidTimestamp

MAX_COUNTER = 0xFFFF
NODE_LENGTH = 16
#: Year 10000 would need JavaScript's six-digit `+010000` year form; nothing valid reaches it.
MAX_MILLIS = 253402300800000 - 1

_PATTERN = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z-([0-9A-F]{4})-([0-9a-f]{16})"
)
_NODE_PATTERN = re.compile(r"[0-9a-f]{16}")


def iso_millis(millis: int) -> str:
    """`new Date(millis).toISOString()` for 0 <= millis <= MAX_MILLIS."""
    seconds, milli = divmod(millis, 1000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{milli:03d}Z"
    )


def is_node_id(node: str) -> bool:
    return _NODE_PATTERN.fullmatch(node) is not None


def hash_timestamp(text: str) -> int:
    """murmur3 32-bit, seed 0, unsigned: the reference's `Timestamp.hash()`."""
    return mmh3.hash(text, 0, signed=False)


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """(physical millis, counter, node). Field order makes tuple order equal string order."""

    millis: int
    counter: int
    node: str

    def __post_init__(self) -> None:
        if not 0 <= self.millis <= MAX_MILLIS:
            raise InvalidTimestamp(f"millis out of range: {self.millis}")
        if not 0 <= self.counter <= MAX_COUNTER:
            raise InvalidTimestamp(f"counter out of range: {self.counter}")
        if not is_node_id(self.node):
            raise InvalidTimestamp(f"node must be 16 lower-case hex digits: {self.node!r}")

    def __str__(self) -> str:
        return f"{iso_millis(self.millis)}-{self.counter:04X}-{self.node}"

    def hash(self) -> int:
        return hash_timestamp(str(self))

    @classmethod
    def parse(cls, text: str) -> Timestamp:
        """Parse a canonical timestamp string; raise InvalidTimestamp otherwise."""
        millis = checked_millis(text)
        return cls(millis, int(text[25:29], 16), text[30:])


def checked_millis(text: object) -> int:
    """The physical millis of a canonical timestamp string, or InvalidTimestamp: the check
    of `Timestamp.parse` without building the object (every pushed message and its `prev`
    go through it, so it is the hot path of ingest). The pattern alone bounds the counter
    (4 hex digits) and the node (16 lower-case hex digits)."""
    if not isinstance(text, str):
        raise InvalidTimestamp(f"timestamp must be a string, got {type(text).__name__}")
    if _PATTERN.fullmatch(text) is None:
        raise InvalidTimestamp(f"not a timestamp: {text[:60]!r}")
    try:
        seconds = _epoch_seconds(text[:19])
    except ValueError:
        raise InvalidTimestamp(f"no such date or time: {text[:60]!r}") from None
    millis = seconds * 1000 + int(text[20:23])
    if not 0 <= millis <= MAX_MILLIS:
        raise InvalidTimestamp(f"timestamp out of range: {text[:60]!r}")
    return millis


@functools.lru_cache(maxsize=65536)
def _epoch_seconds(prefix: str) -> int:
    """Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS`; ValueError for an impossible date
    or time (cached: histories are dense in time)."""
    return calendar.timegm(time.strptime(prefix, "%Y-%m-%dT%H:%M:%S"))


def millis_of(text: str) -> int:
    """Physical millis of an already validated, canonical timestamp string (the hot path of
    trie inserts: no regex, and seconds are cached since histories are dense in time)."""
    return _epoch_seconds(text[:19]) * 1000 + int(text[20:23])


def node_of(text: str) -> str:
    """The node id of a canonical timestamp string (its last 16 characters)."""
    return text[-NODE_LENGTH:]


def min_timestamp_at(millis: int) -> str:
    """The smallest timestamp string at `millis`: a lower bound for range scans."""
    return f"{iso_millis(millis)}-0000-0000000000000000"
