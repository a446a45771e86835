"""Wire shapes of the sync protocol, validated with pydantic (see DESIGN.md, "Protocol")."""

from __future__ import annotations

import base64
import itertools
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .errors import BadRequest

#: The sync protocol's versions this server speaks, as clients name theirs in the
#: `Recap-Protocol` header of /sync, /snapshot and /live: 2 added the incremental pull
#: (`pull_after`, `head`, `pulled_through`), which a version-1 client never asks for.
PROTOCOL_VERSIONS = (1, 2)
PROTOCOL_HEADER = "Recap-Protocol"

Path = Annotated[str, StringConstraints(pattern=r"^[012]{0,16}$")]
NodeId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
MAX_SUMMARY_NODES = 5_000
Hash = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]  # signed 32-bit, as JS XOR leaves it
Count = Annotated[int, Field(ge=0, le=2**53)]


def check_version(given: str | None) -> None:
    """Refuse a protocol version this server does not speak (400 `unsupported_protocol`,
    with the versions it does), before anything is read or written. No header: a client
    from before versions were named, which speaks version 1."""
    if given is None or given.strip() in {str(v) for v in PROTOCOL_VERSIONS}:
        return
    raise BadRequest(
        f"this server speaks sync protocol versions {', '.join(map(str, PROTOCOL_VERSIONS))}, "
        f"not {given[:20]!r}: update the app",
        code="unsupported_protocol",
        supported=list(PROTOCOL_VERSIONS),
    )


class SummaryIn(BaseModel):
    """Scopes, and the nodes inside them, are disjoint ranges: no path twice, none inside
    another (what `frontier` and `refine` produce). Overlaps would only repeat work, and
    repeated scopes made the plan's cost grow with scopes x nodes x depth (100 copies of
    one scope: 20 s of one CPU; 5000: minutes and gigabytes)."""

    model_config = ConfigDict(extra="forbid")
    scopes: list[Path] = Field(max_length=MAX_SUMMARY_NODES)
    nodes: list[tuple[Path, Hash, Count]] = Field(max_length=MAX_SUMMARY_NODES)

    @model_validator(mode="after")
    def _disjoint(self) -> SummaryIn:
        check_disjoint("summary scopes", self.scopes)
        check_disjoint("summary nodes", [p for p, _, _ in self.nodes])
        return self


def check_disjoint(label: str, paths: list[str]) -> None:
    """Raise ValueError if a path repeats or lies inside another of `paths`."""
    ordered = sorted(paths)
    # In sorted order, a path inside another comes right after it or after one that is
    # also inside it: comparing neighbours is enough.
    for a, b in itertools.pairwise(ordered):
        if b.startswith(a):
            raise ValueError(f"{label} overlap: {a!r} and {b!r}")


class SyncRequest(BaseModel):
    """One round. `messages` are checked message by message after this (clear per-index
    errors); `summary` starts a round, `cursor` continues the previous round's pages."""

    model_config = ConfigDict(extra="forbid")
    node: NodeId
    messages: list[Any] = Field(default_factory=list)
    summary: SummaryIn | None = None
    cursor: str | None = Field(default=None, max_length=200_000)
    conflicts_after: int = Field(default=0, ge=0, le=2**63 - 1)  # a bigint id
    #: The server sequence up to which this replica holds every message (DESIGN.md,
    #: "Incremental pull"): the answer brings the messages after it. None: no pull.
    pull_after: int | None = Field(default=None, ge=0, le=2**63 - 1)


class Cursor(BaseModel):
    """Where a paged `send` continues: the ranges being sent and the last timestamp sent."""

    model_config = ConfigDict(extra="forbid")
    paths: list[Path] = Field(max_length=MAX_SUMMARY_NODES)
    after: str = Field(pattern=r"^[0-9A-Za-z:.-]{0,46}$")  # a timestamp, or ""

    @model_validator(mode="after")
    def _disjoint(self) -> Cursor:
        # The server only issues disjoint ranges; overlapping ones would make one page
        # query scan every range's rows (5000 copies of "": millions of rows).
        check_disjoint("cursor paths", self.paths)
        return self

    def encode(self) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(self.model_dump())).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            return cls.model_validate(orjson.loads(raw))
        except Exception as exc:  # any malformed cursor is the client's error
            raise BadRequest("malformed cursor") from exc
