"""Hybrid-logical-clock timestamps in the exact string form of `@actual-app/crdt` v3.

`2026-11-23T06:00:00.005Z-001A-abcdef0123456789`: ISO-8601 UTC with millis, the counter as
4 upper-case hex digits, the node as 16 lower-case hex digits. The string is fixed-width, so
text order is timestamp order and the database can index and range-scan it without parsing.

Only the canonical form is accepted (`parse(str(ts)) == ts` and `str(parse(s)) == s`): the
string is the message's primary key, so two spellings of one timestamp would defeat dedup,
and a spelling one replica reads as another instant (a second of 60) would put a message in
a minute where range reads never find it. The grammar (DESIGN.md, "Clock"), checked here
field by field and by the TypeScript parser in the same way (shared vectors:
tests/vectors/timestamps.json):

    timestamp = date "T" time "Z-" counter "-" node
    date      = YYYY "-" MM "-" DD      ASCII digits; a real day of that month (leap years)
    time      = hh ":" mm ":" ss "." fff   hh 00-23, mm 00-59, ss 00-59, fff 000-999
    counter   = 4 hex digits, upper case (0000-FFFF)
    node      = 16 hex digits, lower case

at an instant from 1970-01-01 to 9999-12-31 (epoch millis >= 0, a four-digit year). A
message's timestamp must also lie in the trie's span, 1997-04-13 .. 2051-11-05
(`MESSAGE_MIN_MILLIS`, `MESSAGE_MAX_MILLIS`): minutes outside it do not have 16 base-3
digits, which the trie's keys and the reference's diff rely on.
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
#: The span whose minutes are 16 base-3 digits (1997-04-13 .. 2051-11-05): the trie's key
#: length. The reference's diff fails outside it, so messages must stay inside.
MESSAGE_MIN_MILLIS = 3**15 * 60_000
MESSAGE_MAX_MILLIS = 3**16 * 60_000 - 1

# ASCII digits only: `\d` would also match other scripts' digits.
_PATTERN = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})Z"
    r"-([0-9A-F]{4})-([0-9a-f]{16})"
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
    go through it, so it is the hot path of ingest). The pattern bounds the counter (4
    upper-case hex digits) and the node (16 lower-case hex digits); the date and time are
    checked field by field (`_epoch_seconds`)."""
    if not isinstance(text, str):
        raise InvalidTimestamp(f"timestamp must be a string, got {type(text).__name__}")
    if _PATTERN.fullmatch(text) is None:
        raise InvalidTimestamp(f"not a timestamp: {text[:60]!r}")
    seconds = _epoch_seconds(text[:19])
    if seconds is None:
        raise InvalidTimestamp(f"no such date or time: {text[:60]!r}")
    millis = seconds * 1000 + int(text[20:23])
    if not 0 <= millis <= MAX_MILLIS:
        raise InvalidTimestamp(f"timestamp out of range: {text[:60]!r}")
    return millis


def checked_message_millis(text: object) -> int:
    """`checked_millis`, for a message's timestamp: also inside the trie's span."""
    millis = checked_millis(text)
    if not MESSAGE_MIN_MILLIS <= millis <= MESSAGE_MAX_MILLIS:
        raise InvalidTimestamp("timestamp outside 1997-04-13 .. 2051-11-05")
    return millis


@functools.lru_cache(maxsize=65536)
def _epoch_seconds(prefix: str) -> int | None:
    """Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS` (ASCII digits, as the pattern
    matched), or None when no such date or time exists: a month 01-12, a day of that month,
    hours 00-23, minutes and seconds 00-59 (no leap second: ISO strings from
    `Date.toISOString` never carry one). Cached: histories are dense in time."""
    year, month, day = int(prefix[0:4]), int(prefix[5:7]), int(prefix[8:10])
    hour, minute, second = int(prefix[11:13]), int(prefix[14:16]), int(prefix[17:19])
    if year < 1970 or not 1 <= month <= 12 or hour > 23 or minute > 59 or second > 59:
        return None  # (years before the epoch are outside the format's range anyway)
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def millis_of(text: str) -> int:
    """Physical millis of an already validated, canonical timestamp string (the hot path of
    trie inserts: no regex, and seconds are cached since histories are dense in time)."""
    seconds = _epoch_seconds(text[:19])
    assert seconds is not None, text
    return seconds * 1000 + int(text[20:23])


def node_of(text: str) -> str:
    """The node id of a canonical timestamp string (its last 16 characters)."""
    return text[-NODE_LENGTH:]


def min_timestamp_at(millis: int) -> str:
    """The smallest timestamp string at `millis`: a lower bound for range scans."""
    return f"{iso_millis(millis)}-0000-0000000000000000"
