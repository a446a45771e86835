"""The trie: reference semantics (insert, diff, prune) and Recap's diff_ranges/FlatTrie."""

from __future__ import annotations

import random

from crdt import merkle
from crdt.timestamp import Timestamp

NODE = "abcdef0123456789"
T0 = 1795413600000
MIN = 60_000


def ts(minute: int, counter: int = 0, node: str = NODE) -> Timestamp:
    return Timestamp(T0 + minute * MIN, counter, node)


def test_key_is_unpadded_base3_minutes() -> None:
    assert merkle.timestamp_key(0) == "0"
    assert merkle.timestamp_key(3 * MIN) == "10"
    key = merkle.timestamp_key(T0)
    assert len(key) == 16 and int(key, 3) == T0 // MIN
    assert merkle.key_to_millis(key) == T0


def test_key_range_covers_exactly_the_prefix() -> None:
    key = merkle.timestamp_key(T0)
    start, end = merkle.key_range(key[:10])
    assert start <= T0 < end
    assert merkle.timestamp_key(start).startswith(key[:10])
    assert merkle.timestamp_key(end - 1).startswith(key[:10])
    assert not merkle.timestamp_key(end).startswith(key[:10])


def test_insert_is_pure_and_xors_signed_hashes() -> None:
    empty = merkle.empty()
    one = merkle.insert(empty, ts(0))
    assert empty == {"hash": 0}
    assert one["hash"] == merkle.to_signed32(ts(0).hash())
    two = merkle.insert(one, ts(1))
    assert two["hash"] == merkle.to_signed32(ts(0).hash() ^ ts(1).hash())
    assert one["hash"] == merkle.to_signed32(ts(0).hash())
    assert -(2**31) <= two["hash"] < 2**31


def test_inserting_twice_cancels() -> None:
    trie = merkle.insert(merkle.insert(merkle.empty(), ts(0)), ts(0))
    assert trie["hash"] == 0


def test_build_equals_folded_insert_and_is_order_free() -> None:
    stamps = [ts(m, c) for m in (0, 1, 500, 90_000) for c in (0, 3)]
    folded = merkle.empty()
    for t in stamps:
        folded = merkle.insert(folded, t)
    assert merkle.build(stamps) == folded
    assert merkle.build(reversed(stamps)) == folded
    assert merkle.build([]) == merkle.empty()


def test_flat_trie_counts_and_matches_json() -> None:
    flat = merkle.FlatTrie()
    stamps = [ts(m) for m in range(10)] + [ts(5, 1)]
    for t in stamps:
        flat.insert(str(t))
    assert flat.count("") == 11
    assert flat.count(merkle.timestamp_key(ts(5).millis)) == 2
    assert flat.to_json() == merkle.build(stamps)


def test_diff_is_none_for_equal_tries() -> None:
    stamps = [ts(m) for m in range(5)]
    assert merkle.diff(merkle.build(stamps), merkle.build(stamps)) is None


def test_diff_finds_the_minute_of_a_single_difference() -> None:
    stamps = [ts(m) for m in range(0, 5000, 7)]
    extra = ts(3003, 1)  # a minute both sides have
    a, b = merkle.build(stamps), merkle.build([*stamps, extra])
    assert merkle.diff(a, b) == T0 + 3003 * MIN
    assert merkle.diff_ranges(a, b) == [(T0 + 3003 * MIN, T0 + 3004 * MIN)]


def test_reference_diff_stops_where_one_side_lacks_a_key() -> None:
    stamps = [ts(m) for m in range(0, 5000, 7)]
    extra = ts(3001, 1)  # a minute only one side has
    a, b = merkle.build(stamps), merkle.build([*stamps, extra])
    found = merkle.diff(a, b)
    assert found is not None and found < extra.millis
    # diff_ranges names the smallest node one side lacks: here a 3-minute node.
    [(start, end)] = merkle.diff_ranges(a, b)
    assert start <= extra.millis < end and end - start == 3 * MIN


def test_diff_ranges_returns_every_divergent_range_not_only_the_first() -> None:
    stamps = [ts(m) for m in range(0, 50_000, 11)]
    a = merkle.build(stamps)
    b = merkle.build([*stamps, ts(99, 1), ts(40_007, 1)])
    assert merkle.diff(a, b) == T0 + 99 * MIN
    assert merkle.diff_ranges(a, b) == [
        (T0 + 99 * MIN, T0 + 100 * MIN),
        (T0 + 40_007 * MIN, T0 + 40_008 * MIN),
    ]


def test_diff_ranges_of_a_missing_subtree_is_its_whole_range() -> None:
    a = merkle.build([ts(0)])
    b = merkle.build([ts(0), ts(3**8)])
    ranges = merkle.diff_ranges(a, b)
    assert len(ranges) == 1
    start, end = ranges[0]
    assert start <= T0 + 3**8 * MIN < end


def test_prune_keeps_the_last_n_children() -> None:
    stamps = [ts(m * 3**12) for m in range(9)]
    trie = merkle.build(stamps)
    pruned = merkle.prune(trie, 2)
    for node_path in ("",):
        node = merkle.subtree(pruned, node_path)
        assert node is not None and len(merkle.children(node)) <= 2
    assert pruned["hash"] == trie["hash"]
    assert merkle.prune(merkle.empty()) == merkle.empty()


def test_diff_ranges_on_pruned_tries_still_covers_the_difference() -> None:
    rng = random.Random(7)
    stamps = [ts(rng.randrange(0, 10**6)) for _ in range(300)]
    extra = ts(123_456, 2)
    a = merkle.prune(merkle.build(stamps), 2)
    b = merkle.prune(merkle.build([*stamps, extra]), 2)
    ranges = merkle.diff_ranges(a, b)
    assert any(s <= extra.millis < e for s, e in ranges)


def test_coalesce_merges_adjacent_and_overlapping() -> None:
    assert merkle.coalesce([(5, 6), (0, 2), (2, 3), (1, 2)]) == [(0, 3), (5, 6)]


def test_insert_many_equals_one_by_one() -> None:
    rng = random.Random(3)
    stamps = [str(ts(rng.randrange(0, 500), rng.randrange(5))) for _ in range(2000)]
    stamps = list(dict.fromkeys(stamps))
    one, many = merkle.FlatTrie(), merkle.FlatTrie()
    for t in stamps:
        one.insert(t)
    many.insert_many(stamps[:700])
    many.insert_many(stamps[700:])
    assert one.nodes == many.nodes


def test_remove_many_undoes_insert_many() -> None:
    rng = random.Random(5)
    stamps = list(
        dict.fromkeys(str(ts(rng.randrange(0, 900), rng.randrange(3))) for _ in range(400))
    )
    keep, withdraw = stamps[:300], stamps[300:]
    expected, trie = merkle.FlatTrie(), merkle.FlatTrie()
    expected.insert_many(keep)
    trie.insert_many(stamps)
    trie.remove_many(withdraw)
    assert trie.nodes == expected.nodes
