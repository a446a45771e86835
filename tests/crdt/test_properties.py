"""Property tests: convergence under any order, duplication and partition of messages, the
merkle diff's exactness, the sync protocol's termination, and HLC monotonicity."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crdt import ClockError, Message, Replica, merkle
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
    replicas = make_edits(ops, 3)
    rng = random.Random(seed)
    pool = all_messages(replicas)
    server = Replica(SERVER_NODE)
    server.apply(rng.sample(pool, k=rng.randint(0, len(pool))))
    clients = [Replica(NODES[i]) for i in range(3)]
    for client in clients:
        client.apply(rng.sample(pool, k=rng.randint(0, len(pool))))
    now = max((Timestamp.parse(m.timestamp).millis for m in pool), default=T0)
    for client in clients:
        outbox = [m for m in client.log.values() if m.timestamp not in server.log]
        stats = sync(client, server, rng.sample(outbox, k=len(outbox) // 2), now)
        assert stats.rounds <= 12
        assert set(client.log) == set(server.log)
    for client in clients:
        sync(client, server, [], now)
        assert client.state() == server.state()
        assert client.trie.get("") == server.trie.get("")


@SETTINGS
@given(
    events=st.lists(
        st.tuples(
            st.booleans(),
            st.integers(-10_000, 10_000),
            st.integers(-10_000, 10_000),
            st.integers(0, 5),
        ),
        min_size=1,
        max_size=80,
    )
)
def test_clock_is_strictly_monotonic(events: list[tuple[bool, int, int, int]]) -> None:
    clock = Clock.new(NODES[0], max_drift_ms=60_000)
    now = T0
    last = clock.last
    for is_send, step, remote_offset, remote_counter in events:
        now += step
        try:
            if is_send:
                clock, ts = send(clock, now)
                assert ts > last
            else:
                remote = Timestamp(now + remote_offset, remote_counter, NODES[1])
                clock = recv(clock, remote, now)
                assert clock.last > remote
                assert clock.last > last
        except ClockError:
            continue  # refused: the clock is unchanged
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
