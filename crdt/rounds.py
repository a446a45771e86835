"""The client's side of a sync, as one pure step: given what the server answered to a round
and what the client holds, what the next round sends, or that the two are in sync.

Every client runs this step and only does I/O around it: `crdt.loopback` (against an
in-memory server), `recap_client.http` (over HTTP) and the browser engine
(`frontend/src/engine/rounds.ts`, the TypeScript mirror, checked against this module by the
shared cross-language vectors). A sync is:

1. Round one sends the outbox (a page of it) and the frontier summary of the client's trie.
2. The server answers `send`, `push`, `descend` ranges and its root, and pages out the
   messages of the `send` ranges (the client follows `cursor` until the pages end).
3. The client reads its own messages in the `send` and `push` ranges and its next outbox
   page, and asks `next_round`. Pushed next: the outbox page, what it holds in `push`
   ranges (the server has nothing there), and what it holds in `send` ranges that the
   server did not send (the server's copy of the range is now known exactly, so anything
   else is the server's lack), of its own node only: a device writes only under its own
   node id. The next summary refines the `descend` ranges, or restarts from the frontier
   when there are none but the roots still differ.
4. Done when nothing is left to push, nothing to descend into, and both roots (hash and
   count) are equal; or when what still differs is other nodes' messages the server lacks
   (`Done.unrepaired`: only their authors can push them back, e.g. after a restore).

Each round either pushes what the server lacks or descends a level (at most 16), so a sync
ends within a bounded number of rounds; `MAX_ROUNDS` is the guard a client gives up at.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

from .message import Message
from .timestamp import node_of

MAX_ROUNDS = 40


@dataclass(frozen=True)
class Answer:
    """The server's answer to one round, its cursor pages folded in: the plan, its root,
    and which timestamps the client holds now for sure (what the pages brought and what
    the round pushed)."""

    send: list[str]
    push: list[str]
    descend: list[str]
    root: tuple[int, int]
    held: Set[str]


@dataclass(frozen=True)
class Local:
    """What the client read after the answer: its root, its messages in the answer's
    `send` and `push` ranges, and its next page of unacknowledged edits."""

    root: tuple[int, int]
    in_send: list[Message]
    in_push: list[Message]
    outbox: list[Message]


@dataclass(frozen=True)
class NextRound:
    """The next request: these messages, and the summary of the `descend` ranges (empty:
    the frontier of the whole trie)."""

    push: list[Message]
    descend: list[str]


@dataclass(frozen=True)
class Done:
    """In sync, as far as this client can bring it: `unrepaired` are messages of other
    nodes that the client holds and the server lacks (only a message's own node may push
    it, so they wait for their author; empty unless the server lost data)."""

    unrepaired: list[Message]


def next_round(answer: Answer, local: Local, node: str) -> NextRound | Done:
    """The next round, or Done when the client and the server hold the same messages.

    The server's pages of a `send` range hold every message it has there but those pushed
    in the same request (which the client holds: they are in `held`), whoever wrote them;
    so what the client holds there beyond `held` is exactly what the server lacks. Of that,
    the client pushes what its own node wrote (the server refuses anything else)."""
    lacking = [m for m in local.in_send if m.timestamp not in answer.held] + local.in_push
    extras = [m for m in lacking if node_of(m.timestamp) == node]
    unrepaired = _unique(m for m in lacking if node_of(m.timestamp) != node)
    nothing_to_do = not answer.descend and not extras and not local.outbox
    if nothing_to_do and (answer.root == local.root or unrepaired):
        return Done(unrepaired)
    return NextRound(_unique([*local.outbox, *extras]), list(answer.descend))


def _unique(messages: Iterable[Message]) -> list[Message]:
    """First occurrence of each timestamp, in order."""
    seen: dict[str, Message] = {}
    for m in messages:
        seen.setdefault(m.timestamp, m)
    return list(seen.values())
