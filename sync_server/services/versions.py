"""Optimistic locking, one rule for every REST write: each record has an integer version
(1 when created, one more with every change the server applies, whoever made it; counted
by `storage.registers`), its ETag is that version quoted, and a write names the version it
read in If-Match. A stale one is 409 `conflict` "stale version", as the Orders API
document (seed 004) asks, with the current version so the client can re-read and retry."""

from __future__ import annotations

from ..errors import Conflict, PreconditionRequired


def etag(version: int) -> str:
    """A record's ETag: its version, quoted (`"3"`)."""
    return f'"{version}"'


def version_given(given: str) -> int | None:
    """The version an If-Match names: `"3"`, `W/"3"` or a bare `3`; None if it names none."""
    text = given.strip().removeprefix("W/").strip('"')
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def check_if_match(given: str | None, current: int) -> None:
    """The caller's If-Match must name the record's current version (or be `*`): 428
    without one, 409 "stale version" with another."""
    if given is None:
        raise PreconditionRequired("If-Match with the record's version is required")
    if given.strip() == "*":
        return
    if version_given(given) != current:
        raise Conflict("stale version", current_version=current, current_etag=etag(current))
