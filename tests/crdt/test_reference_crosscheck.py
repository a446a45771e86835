"""Recap's merkle trie against the reference itself, on freshly generated random timestamps.

Runs `node tests/reference/harness.mjs` (`@actual-app/crdt` 3.1.3). The Makefile installs it;
by hand: `npm ci --prefix tests/reference`. A missing install fails, it does not skip.

The seed is random per run and printed (with every failure message); replay a run with
`RECAP_CROSSCHECK_SEED=<seed> python -m pytest tests/crdt/test_reference_crosscheck.py`.

How the reference's `diff` relates to Recap's `diff_ranges`: both walk down the first
differing child, but where the reference meets a child that one side lacks it stops and
returns the start of the *parent* node, while `diff_ranges` reports the missing child's own
range. So, for full (unpruned) tries, with m the earliest minute holding a message of one
side only and N the highest node on m's key path that only one side has:

* no such N (both sides have messages in minute m): reference diff == first range start == m;
* otherwise: first range start == start(N), reference diff == start(parent of N)
  (so the reference can be up to two sibling subtrees earlier than the first range).

(The brief "reference diff == first range start for unpruned tries" is the first case only.)
For full tries r is never after the earliest divergent message and the ranges cover every
divergent message. For any tries (pruned too), the reference diff r and the first range start
s satisfy r <= s, and r == s or r is s with its lowest non-zero base-3 minute digit cleared;
but on pruned tries r can come out *after* the earliest divergent message, and diff_ranges
can miss divergent messages (both pinned by the examples at the end of this file).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from crdt import merkle
from crdt.timestamp import Timestamp

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
HARNESS = REFERENCE_DIR / "harness.mjs"
INSTALL_HINT = "run `npm ci --prefix tests/reference` (or `make`) first"

BASE_SEED = int(os.environ.get("RECAP_CROSSCHECK_SEED") or random.SystemRandom().randrange(2**32))
ROUNDS = 10
ROUND_SIZE = 200
MINUTE = 60_000
YEAR = 365 * 86_400_000
T2019 = 1_546_300_800_000  # 2019-01-01T00:00:00.000Z
T2031 = 1_924_992_000_000  # 2031-01-01T00:00:00.000Z

Request = dict[str, Any]
Reference = Callable[[list[Request]], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def reference() -> Reference:
    """Runs a batch of harness requests in one node process (node + package start ~0.25 s)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"`node` is not on PATH: install Node 20, then {INSTALL_HINT}")
    if not (REFERENCE_DIR / "node_modules" / "@actual-app" / "crdt" / "package.json").is_file():
        pytest.fail(
            f"the reference is not installed in {REFERENCE_DIR / 'node_modules'}: {INSTALL_HINT}"
        )

    def run(requests: list[Request]) -> list[dict[str, Any]]:
        proc = subprocess.run(
            [node, str(HARNESS)],
            input=orjson.dumps({"op": "batch", "requests": requests}),
            capture_output=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"harness failed ({proc.returncode}): {proc.stdout.decode()[:2000]} "
                f"{proc.stderr.decode()[:2000]}"
            )
        responses: list[dict[str, Any]] = orjson.loads(proc.stdout)["responses"]
        assert len(responses) == len(requests)
        return responses

    return run


def canonical(trie: merkle.Trie) -> bytes:
    return orjson.dumps(trie, option=orjson.OPT_SORT_KEYS)


# Keys computed here, not with crdt.merkle's helpers, so the relations below are checked
# against the definition: minute number in base 3, 16 digits for 1997-04-13 .. 2051-11-05
# (zero-padded here, so that range starts such as 0 have a key too).
def minute_key(millis: int) -> str:
    minutes, digits = millis // MINUTE, ""
    while minutes:
        minutes, r = divmod(minutes, 3)
        digits = "012"[r] + digits
    assert len(digits) <= 16, millis
    return digits.zfill(16)


def key_start(prefix: str) -> int:
    return int(prefix.ljust(16, "0"), 3) * MINUTE


def clear_lowest_trit(millis: int) -> int:
    key = minute_key(millis).rstrip("0")
    return key_start(key[:-1]) if key else millis


class Gen:
    """Random timestamps in 2019..2030, distinct, with same-minute collisions and counters
    up to 0xFFFF."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.nodes = [f"{rng.getrandbits(64):016x}" for _ in range(5)]

    def counter(self) -> int:
        return self.rng.randrange(0x10000) if self.rng.random() < 0.3 else self.rng.randrange(20)

    def at(self, millis: int) -> str:
        return str(Timestamp(millis, self.counter(), self.rng.choice(self.nodes)))

    def many(self, count: int, start: int = T2019, end: int = T2031, minutes: int = 0) -> list[str]:
        rng = self.rng
        pool = [rng.randrange(start, end) // MINUTE * MINUTE for _ in range(minutes)]
        out: dict[str, None] = {}
        while len(out) < count:
            millis = rng.choice(pool) + rng.randrange(MINUTE) if pool else rng.randrange(start, end)
            out[self.at(millis)] = None
        return list(out)

    def fresh(self, taken: Iterable[str], millis: int) -> str:
        existing = set(taken)
        while True:
            ts = self.at(millis)
            if ts not in existing:
                return ts


def millis_of(ts: str) -> int:
    return Timestamp.parse(ts).millis


def scenario(name: str, gen: Gen) -> tuple[list[str], list[str]]:
    """Two overlapping timestamp lists (each without duplicates)."""
    rng = gen.rng
    start = rng.randrange(T2019, T2031 - 3 * YEAR)
    base = gen.many(ROUND_SIZE, start, start + rng.choice([86_400_000, 30 * 86_400_000, 3 * YEAR]))
    some = millis_of(rng.choice(base))
    if name == "equal-reordered":
        return base, rng.sample(base, len(base))
    if name == "one-extra-random":
        return base, [*base, gen.fresh(base, rng.randrange(T2019, T2031))]
    if name == "one-extra-same-minute":
        return base, [*base, gen.fresh(base, some // MINUTE * MINUTE + rng.randrange(MINUTE))]
    if name == "one-extra-next-minute":
        return base, [*base, gen.fresh(base, some + MINUTE)]
    if name == "one-missing":
        return base, [t for t in base if t != rng.choice(base)]
    if name == "extras-both-sides":
        extra = gen.many(10)
        a = extra[: rng.randrange(1, 6)]
        return [*base, *a], [*base, *(t for t in extra[5:] if t not in a)]
    if name == "disjoint":
        other = [t for t in gen.many(ROUND_SIZE) if t not in set(base)]
        return base, other
    if name == "one-side-empty":
        return [], base
    if name == "subset":
        return rng.sample(base, len(base) // 2), base
    if name == "clustered-minutes":
        clustered = gen.many(ROUND_SIZE, start, start + YEAR, minutes=20)
        return clustered, [*clustered, *(t for t in gen.many(3) if t not in set(clustered))]
    raise AssertionError(name)


SCENARIOS = [
    "equal-reordered",
    "one-extra-random",
    "one-extra-same-minute",
    "one-extra-next-minute",
    "one-missing",
    "extras-both-sides",
    "disjoint",
    "one-side-empty",
    "subset",
    "clustered-minutes",
]


def expected_full_diff(a: list[str], b: list[str]) -> tuple[int, int] | None:
    """(reference diff, first diff_ranges start) for full tries of `a` and `b`, derived from
    the sets alone (see the module docstring)."""
    only = set(a) ^ set(b)
    if not only:
        return None
    first = min(millis_of(t) for t in only) // MINUTE * MINUTE
    key = minute_key(first)
    prefixes_a = {minute_key(millis_of(t))[:i] for t in a for i in range(17)}
    prefixes_b = {minute_key(millis_of(t))[:i] for t in b for i in range(17)}
    for depth in range(1, 17):
        if key[:depth] not in prefixes_a or key[:depth] not in prefixes_b:
            return key_start(key[: depth - 1]), key_start(key[:depth])
    return first, first


def check_diff_relations(
    ref_diff: int | None, a: merkle.Trie, b: merkle.Trie, only: set[str], full: bool, ctx: str
) -> None:
    """Relations between the reference diff and Recap's diff_ranges for any pair of tries.

    For every pair, pruned or not, the ranges cover every divergent message (a pruned node
    whose children do not account for its hash counts as divergent as a whole). Only for full
    tries is the reference diff never after a divergent message and at most one trit before
    the first range: on pruned tries it can come out later than the true divergence.
    """
    ranges = merkle.diff_ranges(a, b)
    if ref_diff is None:
        assert ranges == [], ctx
        return
    assert ranges, ctx
    for ts in only:
        millis = millis_of(ts)
        assert any(s <= millis < e for s, e in ranges), f"{ts} not in {ranges}; {ctx}"
    if full:
        first = ranges[0][0]
        assert ref_diff <= first, ctx
        assert ref_diff in (first, clear_lowest_trit(first)), ctx
        for ts in only:
            assert ref_diff <= millis_of(ts), f"reference diff after divergent {ts}; {ctx}"


@pytest.mark.parametrize(
    "round_no",
    range(ROUNDS),
    ids=[f"round{i}-{SCENARIOS[i % len(SCENARIOS)]}" for i in range(ROUNDS)],
)
def test_random_round(reference: Reference, round_no: int) -> None:
    seed = BASE_SEED + round_no
    name = SCENARIOS[round_no % len(SCENARIOS)]
    ctx = f"seed={seed} (RECAP_CROSSCHECK_SEED={BASE_SEED}) scenario={name}"
    print(ctx)
    rng = random.Random(seed)
    a_list, b_list = scenario(name, Gen(rng))
    only = set(a_list) ^ set(b_list)

    built = reference(
        [{"op": "build", "timestamps": a_list}, {"op": "build", "timestamps": b_list}]
    )
    a, b = merkle.build(a_list), merkle.build(b_list)
    for mine, theirs in ((a, built[0]), (b, built[1])):
        assert mine == theirs["trie"], ctx
        assert canonical(mine) == canonical(theirs["trie"]), ctx
        assert mine["hash"] == theirs["hash"], ctx

    n = rng.choice([0, 1, 2, 3])  # 0 keeps every child, as JavaScript's slice(-0)
    pa, pb = merkle.prune(a, n), merkle.prune(b, n)
    # (label, trie, trie, both full)
    pairs = [
        ("a/b", a, b, True),
        ("b/a", b, a, True),
        ("pa/b", pa, b, False),
        ("a/pb", a, pb, False),
        ("pa/pb", pa, pb, False),
    ]
    responses = reference(
        [{"op": "prune", "trie": a, "n": n}, {"op": "prune", "trie": b, "n": n}]
        + [{"op": "diff", "a": x, "b": y} for _, x, y, _ in pairs]
    )
    assert canonical(pa) == canonical(responses[0]["trie"]), f"prune n={n}; {ctx}"
    assert canonical(pb) == canonical(responses[1]["trie"]), f"prune n={n}; {ctx}"
    ref_diffs: list[int | None] = [r["diff"] for r in responses[2:]]
    for (label, x, y, full), ref_diff in zip(pairs, ref_diffs, strict=True):
        assert merkle.diff(x, y) == ref_diff, f"diff {label} (n={n}); {ctx}"
        check_diff_relations(ref_diff, x, y, only, full, f"{label} (n={n}); {ctx}")

    # Full tries: the exact values, from the timestamp sets alone.
    expected = expected_full_diff(a_list, b_list)
    ranges = merkle.diff_ranges(a, b)
    if expected is None:
        assert ref_diffs[0] is None and ranges == [], ctx
    else:
        assert (ref_diffs[0], ranges[0][0]) == expected, f"{ranges[:3]}; {ctx}"


def test_reference_diff_stops_at_parent_of_missing_node(reference: Reference) -> None:
    """Why `reference diff == first diff_ranges start` does not hold even for full tries."""
    # A minute in June 2024 whose last base-3 digit is 0; the next minute ends in 1.
    minute = key_start(minute_key(1_718_454_000_000)[:-1])
    first = str(Timestamp(minute + 5, 0, "00000000000000aa"))
    extra = str(Timestamp(minute + MINUTE + 5, 0, "00000000000000bb"))
    a, b = merkle.build([first]), merkle.build([first, extra])
    (response,) = reference([{"op": "diff", "a": a, "b": b}])
    assert response["diff"] == merkle.diff(a, b) == minute
    assert merkle.diff_ranges(a, b) == [(minute + MINUTE, minute + 2 * MINUTE)]
    assert expected_full_diff([first], [first, extra]) == (minute, minute + MINUTE)


def three_minutes() -> tuple[int, list[str]]:
    """A minute M whose last base-3 digit is 0 and messages x, y, z at M, M+1, M+2 minutes
    (one node at depth 15 with children "0", "1", "2"), plus y2: another message at M+1."""
    minute = key_start(minute_key(1_718_454_000_000)[:-1])
    node = "00000000000000aa"
    msgs = [str(Timestamp(minute + k * MINUTE, 0, node)) for k in range(3)]
    return minute, [*msgs, str(Timestamp(minute + MINUTE, 0, "00000000000000bb"))]


def test_reference_diff_can_pass_divergence_on_pruned_trie(reference: Reference) -> None:
    """A fact about the reference (not only "earlier", as often said): with a pruned trie its
    diff can come out *after* the earliest divergent message. Here the full side lacks minute
    M, the pruned side pruned M away, and the walk goes on into M+1, which differs."""
    minute, (x, y, z, y2) = three_minutes()
    full = merkle.build([y2, z])
    pruned = merkle.prune(merkle.build([x, y, z]), 2)
    (response,) = reference([{"op": "diff", "a": full, "b": pruned}])
    assert response["diff"] == merkle.diff(full, pruned) == minute + MINUTE
    assert millis_of(x) == minute < response["diff"]


def test_diff_ranges_covers_divergence_pruned_away() -> None:
    """A child pruned away on one side and absent on the other, beside a differing sibling:
    the pruned node's children do not account for its hash, so its whole range diverges."""
    minute, (x, y, z, _) = three_minutes()
    a = merkle.build([y])
    pruned_b = merkle.prune(merkle.build([x, y, z]), 2)
    assert merkle.diff(a, pruned_b) == minute
    ranges = merkle.diff_ranges(a, pruned_b)
    assert any(s <= millis_of(x) < e for s, e in ranges), ranges


def test_hash_and_format(reference: Reference) -> None:
    seed = BASE_SEED
    print(f"seed={seed}")
    rng = random.Random(seed)
    items = [
        (rng.randrange(0, 253402300800000), rng.randrange(0x10000), f"{rng.getrandbits(64):016x}")
        for _ in range(300)
    ]
    items += [(0, 0, "0" * 16), (253402300799999, 0xFFFF, "f" * 16)]
    mine = [Timestamp(*item) for item in items]
    formatted, hashed = reference(
        [
            {"op": "format", "items": items},
            {"op": "hash", "timestamps": [str(ts) for ts in mine]},
        ]
    )
    assert [str(ts) for ts in mine] == formatted["strings"], f"seed={seed}"
    assert [ts.hash() for ts in mine] == hashed["hashes"], f"seed={seed}"
    assert [Timestamp.parse(s) for s in formatted["strings"]] == mine, f"seed={seed}"
