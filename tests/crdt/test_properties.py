"""Property tests: convergence under any order, duplication and partition of messages, the
merkle diff's exactness, the sync protocol's termination, and HLC monotonicity."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crdt import Message, Replica, merkle
from crdt.hlc import Clock, recv, send
from crdt.loopback import sync
from crdt.timestamp import Timestamp

T0 = 1795413600000
NODES = ["a" * 16, "b" * 16, "c" * 16, "d" * 16]
SERVER_NODE = "0" * 15 + "1"
ROWS = [f"0190f2a4-7d1c-7b3e-8a4f-2b6c1d9e0f{i:02x}" for i in range(4)]
COLUMNS = ["quantity", "weight", "tombstone"]

# Gaps between events span milliseconds to months, so tries get every shape of key.
gaps = st.sampled_from([0, 1, 7, 60_000, 3_600_000, 86_400_000, 30 * 86_400_000])
edit_ops = st.lists(
    st.tuples(
        st.integers(0, len(NODES) - 1),
        st.sampled_from(ROWS),
        st.sampled_from(COLUMNS),
        st.integers(0, 1),
        gaps,
    ),
    min_size=1,
    max_size=60,
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_edits(ops: list[tuple[int, str, str, int, int]], n: int) -> list[Replica]:
    replicas = [Replica(NODES[i]) for i in range(n)]
    now = T0
    for who, row, column, value, gap in ops:
        now += gap
        replicas[who % n].edit("pre_order_flows", row, column, value, now)
    return replicas


def all_messages(replicas: list[Replica]) -> list[Message]:
    return [m for r in replicas for m in r.log.values()]


@SETTINGS
@given(ops=edit_ops, n=st.integers(2, 4), seed=st.integers(0, 2**32 - 1))
def test_any_order_duplication_and_partition_converges(
    ops: list[tuple[int, str, str, int, int]], n: int, seed: int
) -> None:
    replicas = make_edits(ops, n)
    pool = all_messages(replicas)
    rng = random.Random(seed)
    observers = [Replica(NODES[i]) for i in range(n)]
    for obs in observers:
        # Deliver every message at least once, some twice, shuffled, in random batches.
        stream = pool + rng.sample(pool, k=min(len(pool), rng.randint(0, len(pool))))
        rng.shuffle(stream)
        while stream:
            cut = rng.randint(1, len(stream))
            obs.apply(stream[:cut])
            stream = stream[cut:]
    reference = observers[0]
    for obs in observers[1:]:
        assert obs.state() == reference.state()
        assert set(obs.log) == set(reference.log) == {m.timestamp for m in pool}
        assert obs.trie.get("") == reference.trie.get("")
        assert obs.trie.to_json() == reference.trie.to_json()


@SETTINGS
@given(ops=edit_ops, seed=st.integers(0, 2**32 - 1))
def test_partitioned_replicas_converge_after_full_exchange(
    ops: list[tuple[int, str, str, int, int]], seed: int
) -> None:
    replicas = make_edits(ops, 3)
    rng = random.Random(seed)
    # Partial gossip during a partition: random subsets flow between random pairs.
    for _ in range(rng.randint(0, 6)):
        src, dst = rng.sample(replicas, 2)
        msgs = list(src.log.values())
        dst.apply(rng.sample(msgs, k=rng.randint(0, len(msgs))))
    # Partition heals: everyone gets everything.
    pool = all_messages(replicas)
    for r in replicas:
        r.apply(pool)
    states = [r.state() for r in replicas]
    assert states[0] == states[1] == states[2]
    assert len({r.trie.get("") for r in replicas}) == 1


@SETTINGS
@given(ops=edit_ops, seed=st.integers(0, 2**32 - 1))
def test_diff_is_empty_exactly_when_message_sets_are_equal(
    ops: list[tuple[int, str, str, int, int]], seed: int
) -> None:
    pool = all_messages(make_edits(ops, 2))
    rng = random.Random(seed)
    a_set = rng.sample(pool, k=rng.randint(0, len(pool)))
    b_set = rng.sample(pool, k=rng.randint(0, len(pool)))
    a = merkle.build(m.timestamp for m in a_set)
    b = merkle.build(m.timestamp for m in b_set)
    ranges = merkle.diff_ranges(a, b)
    equal = {m.timestamp for m in a_set} == {m.timestamp for m in b_set}
    assert (ranges == []) == equal
    assert (merkle.diff(a, b) is None) == equal

    # Exchanging exactly the messages inside the ranges makes the tries equal.
    def inside(m: Message) -> bool:
        millis = Timestamp.parse(m.timestamp).millis
        return any(s <= millis < e for s, e in ranges)

    union = {m.timestamp for m in a_set} | {m.timestamp for m in b_set}
    a_after = {m.timestamp for m in a_set} | {m.timestamp for m in b_set if inside(m)}
    b_after = {m.timestamp for m in b_set} | {m.timestamp for m in a_set if inside(m)}
    assert a_after == b_after == union
    assert merkle.build(a_after) == merkle.build(b_after)


@SETTINGS
@given(ops=edit_ops, seed=st.integers(0, 2**32 - 1))
def test_sync_protocol_converges_in_bounded_rounds(
    ops: list[tuple[int, str, str, int, int]], seed: int
) -> None:
    """Three clients, each holding all of its own edits (some pushed before, some still in
    its outbox) and some of the others' that the server sent it earlier; the server holds
    some of each client's edits. After each syncs once, the server holds every edit and
    each client everything the server had then; after a second pass all are equal."""
    replicas = make_edits(ops, 3)
    rng = random.Random(seed)
    server = Replica(SERVER_NODE)
    for replica in replicas:
        server.apply(rng.sample(list(replica.log.values()), k=rng.randint(0, len(replica.log))))
    clients = [Replica(NODES[i]) for i in range(3)]
    for client, replica in zip(clients, replicas, strict=True):
        client.apply(replica.log.values())
        seen = [m for m in server.log.values() if m.node != client.node]
        client.apply(rng.sample(seen, k=rng.randint(0, len(seen))))
    pool = all_messages(replicas)
    now = max((Timestamp.parse(m.timestamp).millis for m in pool), default=T0)
    for client in clients:
        before = set(server.log)
        outbox = [m for m in client.log.values() if m.timestamp not in server.log]
        stats = sync(client, server, rng.sample(outbox, k=len(outbox) // 2), now)
        assert stats.rounds <= 12
        assert stats.unrepaired == 0
        assert before <= set(client.log)
        assert {t for t in client.log if client.log[t].node == client.node} <= set(server.log)
    assert set(server.log) == {m.timestamp for m in pool}
    for client in clients:
        sync(client, server, [], now)
        assert set(client.log) == set(server.log)
        assert client.state() == server.state()
        assert client.trie.get("") == server.trie.get("")


@SETTINGS
@given(ops=edit_ops, seed=st.integers(0, 2**32 - 1))
def test_a_client_never_pushes_what_another_node_wrote(
    ops: list[tuple[int, str, str, int, int]], seed: int
) -> None:
    """A server that lost some messages (restored from a backup): a client holding other
    nodes' lost messages ends its sync with them as `unrepaired` instead of pushing them
    (the server would refuse them) or looping; its own lost edits it pushes back."""
    replicas = make_edits(ops, 2)
    rng = random.Random(seed)
    pool = all_messages(replicas)
    server = Replica(SERVER_NODE)
    kept = rng.sample(pool, k=rng.randint(0, len(pool)))
    server.apply(kept)
    client = Replica(NODES[0])
    client.apply(pool)
    now = max((Timestamp.parse(m.timestamp).millis for m in pool), default=T0)
    stats = sync(client, server, [], now)
    lost = {m.timestamp for m in pool} - {m.timestamp for m in kept}
    theirs = {t for t in lost if client.log[t].node != client.node}
    assert stats.unrepaired == len(theirs)
    assert set(server.log) == {m.timestamp for m in pool} - theirs


#: A timestamp the server accepts at `now` (it then reaches replicas): any instant up to
#: the drift limit ahead (or far back), any counter, any node, ours included.
accepted_offsets = st.integers(-30 * 86_400_000, 5 * 60_000)


@SETTINGS
@given(
    events=st.lists(
        st.tuples(
            st.booleans(),
            st.integers(-10_000, 10_000),
            accepted_offsets,
            st.integers(0, 0xFFFF),
            st.sampled_from(NODES),
        ),
        min_size=1,
        max_size=80,
    ),
    skew=st.integers(-2_000, 2_000),
)
def test_no_accepted_message_makes_a_clock_refuse(
    events: list[tuple[bool, int, int, int, str]], skew: int
) -> None:
    """Any sequence of local events and received messages the server accepted (stamped at
    most the drift limit ahead of the server's time, with any counter, FFFF included, and
    any node), on a replica whose clock is `skew` off the server's: `send` and `recv` never
    raise, and the clock strictly increases past everything it issued or saw."""
    clock = Clock.new(NODES[0])
    server_now = T0
    last = clock.last
    for is_send, step, remote_offset, remote_counter, node in events:
        server_now += step
        now = server_now + skew
        if is_send:
            clock, ts = send(clock, now)
            assert ts > last
        else:
            remote = Timestamp(server_now + remote_offset, remote_counter, node)
            clock = recv(clock, remote, now)
            assert (clock.last.millis, clock.last.counter) > (remote.millis, remote.counter)
            assert clock.last > last
        last = clock.last


@SETTINGS
@given(ops=edit_ops, seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3))
def test_diff_ranges_on_pruned_tries_cover_every_divergent_message(
    ops: list[tuple[int, str, str, int, int]], seed: int, n: int
) -> None:
    pool = all_messages(make_edits(ops, 2))
    rng = random.Random(seed)
    a_set = {m.timestamp for m in rng.sample(pool, k=rng.randint(0, len(pool)))}
    b_set = {m.timestamp for m in rng.sample(pool, k=rng.randint(0, len(pool)))}
    a, b = merkle.prune(merkle.build(a_set), n), merkle.prune(merkle.build(b_set), n)
    ranges = merkle.diff_ranges(a, b)
    for ts in a_set ^ b_set:
        millis = Timestamp.parse(ts).millis
        assert any(s <= millis < e for s, e in ranges)
