"""Recap's CRDT core: hybrid logical clock, merkle trie, per-field LWW merge, and the
reconciliation logic of the sync protocol. Pure Python: no I/O, no asyncio, no database."""

from .errors import (
    CrdtError,
    InvalidMessage,
    InvalidTimestamp,
)
from .hlc import Clock, recv, send
from .merge import Conflict, Register, merge_field
from .merkle import FlatTrie
from .message import Message, Scalar
from .replica import ApplyResult, Replica
from .timestamp import Timestamp

__all__ = [
    "ApplyResult",
    "Clock",
    "Conflict",
    "CrdtError",
    "FlatTrie",
    "InvalidMessage",
    "InvalidTimestamp",
    "Message",
    "Register",
    "Replica",
    "Scalar",
    "Timestamp",
    "merge_field",
    "recv",
    "send",
]
