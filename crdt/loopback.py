"""The sync protocol between two in-memory replicas, with no transport in between.

Property tests use it to prove that the protocol converges and terminates for any pair of
histories; the benchmarks use it to count rounds and messages without I/O noise. The HTTP
client and server run the same steps, with the server's half backed by PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from .merkle import key_range, timestamp_key
from .message import Message
from .reconcile import Plan, frontier, paths_needed, plan, refine
from .replica import Replica
from .rounds import MAX_ROUNDS, Answer, Done, Local, next_round
from .timestamp import Timestamp


class NoProgress(RuntimeError):
    """The exchange did not converge within the round limit (a protocol bug, never data)."""


@dataclass
class SyncStats:
    rounds: int = 0
    sent_to_client: int = 0
    pushed_to_server: int = 0
    summary_nodes: int = 0
    unrepaired: int = 0


def serve(
    server: Replica,
    summary_nodes: list[tuple[str, int, int]],
    scopes: list[str],
    pushed: list[Message],
    now_ms: int,
    node: str,
) -> tuple[Plan, list[Message]]:
    """The server's half of one round: apply the push, plan, collect the messages to send.
    As the real server, it takes from a node only that node's own messages."""
    from .reconcile import Summary

    if any(m.node != node for m in pushed):
        raise ValueError(f"a push from node {node} carries another node's message")
    server.receive(pushed, now_ms)
    summary = Summary(scopes, summary_nodes)
    nodes = {p: v for p in paths_needed(summary) if (v := server.trie.get(p)) is not None}
    keys = [timestamp_key(Timestamp.parse(m.timestamp).millis) for m in pushed]
    result = plan(summary, nodes, keys)
    pushed_ts = {m.timestamp for m in pushed}
    sent = [
        m
        for path in result.send
        for m in server.messages_in(*key_range(path))
        if m.timestamp not in pushed_ts
    ]
    return result, sent


def sync(
    client: Replica,
    server: Replica,
    outbox: list[Message],
    now_ms: int,
    max_rounds: int = MAX_ROUNDS,
) -> SyncStats:
    """Rounds of `crdt.rounds.next_round` until the two replicas hold the same messages."""
    stats = SyncStats()
    pushed = list(outbox)
    summary = frontier(client.trie)
    while True:
        stats.rounds += 1
        if stats.rounds > max_rounds:
            raise NoProgress(f"not in sync after {max_rounds} rounds")
        stats.summary_nodes += len(summary.nodes)
        stats.pushed_to_server += len(pushed)
        result, sent = serve(server, summary.nodes, summary.scopes, pushed, now_ms, client.node)
        stats.sent_to_client += len(sent)
        client.receive(sent, now_ms)
        answer = Answer(
            result.send,
            result.push,
            result.descend,
            server.trie.get("") or (0, 0),
            {m.timestamp for m in sent} | {m.timestamp for m in pushed},
        )
        local = Local(
            client.trie.get("") or (0, 0),
            [m for path in result.send for m in client.messages_in(*key_range(path))],
            [m for path in result.push for m in client.messages_in(*key_range(path))],
            [],
        )
        following = next_round(answer, local, client.node)
        if isinstance(following, Done):
            stats.unrepaired = len(following.unrepaired)
            return stats
        pushed = following.push
        descend = following.descend
        summary = refine(client.trie, descend) if descend else frontier(client.trie)
