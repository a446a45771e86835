"""Timestamp format and the HLC algorithm, with time passed in."""

from __future__ import annotations

import pytest

from crdt import Clock, InvalidTimestamp, Timestamp, recv, send
from crdt.hlc import check_drift

NODE = "abcdef0123456789"
OTHER = "0123456789abcdef"
T0 = 1795413600005  # 2026-11-23T06:00:00.005Z


def test_format_matches_reference_example() -> None:
    assert str(Timestamp(T0, 26, NODE)) == "2026-11-23T06:00:00.005Z-001A-abcdef0123456789"


def test_hash_is_unsigned_murmur3_of_the_string() -> None:
    # Value from the reference's murmurhash.v3 (NOTES.md), for an upper-case node string.
    import mmh3

    known = "2018-11-12T13:21:40.122Z-0000-0123456789ABCDEF"
    assert mmh3.hash(known, 0, signed=False) == 1983295247
    ts = Timestamp.parse("2018-11-12T13:21:40.122Z-0000-0123456789abcdef")
    assert ts.hash() == mmh3.hash(str(ts), 0, signed=False)
    assert ts.hash() >= 0


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T06:00:00.005Z-001A-abcdef0123456789",
        "1970-01-01T00:00:00.000Z-0000-0000000000000000",
        "2024-02-29T23:59:59.999Z-FFFF-ffffffffffffffff",
    ],
)
def test_parse_roundtrips(text: str) -> None:
    assert str(Timestamp.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-23T06:00:00.005Z-001a-abcdef0123456789",  # lower-case counter
        "2026-11-23T06:00:00.005Z-001A-ABCDEF0123456789",  # upper-case node
        "2026-11-23T06:00:00.005Z-001A-abcdef012345678",  # short node
        "2026-11-23T06:00:00.005Z-10000-abcdef0123456789",  # counter overflow
        "2026-02-30T06:00:00.005Z-0000-abcdef0123456789",  # no such date
        "2026-11-23T24:00:00.000Z-0000-abcdef0123456789",  # no such hour
        "2026-11-23 06:00:00.005Z-0000-abcdef0123456789",  # not ISO
        "2026-11-23T06:00:00.005Z-0000-abcdef0123456789 ",  # trailing space
    ],
)
def test_parse_rejects_non_canonical(text: str) -> None:
    with pytest.raises(InvalidTimestamp):
        Timestamp.parse(text)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidTimestamp):
        Timestamp.parse(12345)  # type: ignore[arg-type]


def test_string_order_is_timestamp_order() -> None:
    stamps = [
        Timestamp(T0, 0, OTHER),
        Timestamp(T0, 0, NODE),
        Timestamp(T0, 0xA, NODE),
        Timestamp(T0, 0xFF, NODE),
        Timestamp(T0 + 1, 0, OTHER),
        Timestamp(T0 + 86_400_000 * 400, 0, OTHER),
    ]
    assert sorted(stamps) == sorted(stamps, key=str)


def test_send_uses_physical_time_when_it_is_ahead() -> None:
    clock = Clock.new(NODE)
    clock, ts = send(clock, T0)
    assert (ts.millis, ts.counter, ts.node) == (T0, 0, NODE)
    clock, ts = send(clock, T0)
    assert (ts.millis, ts.counter) == (T0, 1)
    clock, ts = send(clock, T0 + 5)
    assert (ts.millis, ts.counter) == (T0 + 5, 0)


def test_send_keeps_logical_time_when_physical_goes_back() -> None:
    clock, _ = send(Clock.new(NODE), T0)
    clock, ts = send(clock, T0 - 1000)
    assert (ts.millis, ts.counter) == (T0, 1)


def test_send_keeps_stamping_however_far_the_clock_is_ahead() -> None:
    """No drift check on a replica: its clock moved ahead only through messages the server
    accepted, and refusing to stamp would only stop it (the server checks on arrival)."""
    clock, _ = send(Clock.new(NODE), T0 + 3_600_000)
    clock, ts = send(clock, T0)
    assert (ts.millis, ts.counter) == (T0 + 3_600_000, 1)


def test_send_carries_a_full_counter_into_the_next_millisecond() -> None:
    clock = Clock(Timestamp(T0, 0xFFFE, NODE))
    clock, ts = send(clock, T0)
    assert (ts.millis, ts.counter) == (T0, 0xFFFF)
    clock, ts = send(clock, T0)
    assert (ts.millis, ts.counter) == (T0 + 1, 0)
    clock, ts = send(clock, T0)
    assert (ts.millis, ts.counter) == (T0 + 1, 1)


def test_the_server_refuses_what_is_too_far_ahead_and_nothing_else() -> None:
    assert check_drift(T0 + 5 * 60_000, T0)
    assert not check_drift(T0 + 5 * 60_000 + 1, T0)
    assert check_drift(T0 - 86_400_000 * 30, T0)  # an edit made offline a month ago
    assert not check_drift(T0 + 1001, T0, max_drift_ms=1000)


@pytest.mark.parametrize(
    ("local", "remote", "now", "expected"),
    [
        # all three equal millis: max counter + 1
        ((T0, 5), (T0, 9), T0, (T0, 10)),
        # local ahead of remote and physical: local counter + 1
        ((T0 + 10, 5), (T0, 9), T0, (T0 + 10, 6)),
        # remote ahead of local and physical: remote counter + 1
        ((T0, 5), (T0 + 10, 9), T0, (T0 + 10, 10)),
        # physical ahead of both: counter 0
        ((T0, 5), (T0 + 1, 9), T0 + 2, (T0 + 2, 0)),
    ],
)
def test_recv_follows_the_hlc_rule(
    local: tuple[int, int], remote: tuple[int, int], now: int, expected: tuple[int, int]
) -> None:
    clock = Clock(Timestamp(local[0], local[1], NODE))
    out = recv(clock, Timestamp(remote[0], remote[1], OTHER), now)
    assert (out.last.millis, out.last.counter, out.node) == (*expected, NODE)


def test_recv_moves_past_our_own_node_s_event() -> None:
    """One of our own events coming back (a client that kept its node id through a
    reinstall): the next stamp must not repeat it."""
    clock = recv(Clock.new(NODE), Timestamp(T0 + 50, 3, NODE), T0)
    _, ts = send(clock, T0)
    assert (ts.millis, ts.counter) == (T0 + 50, 5)


def test_recv_follows_a_remote_ahead_of_physical_time() -> None:
    remote = Timestamp(T0 + 5 * 60_000, 0, OTHER)
    clock = recv(Clock.new(NODE), remote, T0 - 2000)  # our clock two seconds behind
    _, ts = send(clock, T0 - 2000)
    assert ts > remote


def test_recv_carries_a_full_remote_counter() -> None:
    """The poisoned message of the hostile-clients issue: counter FFFF, minutes ahead."""
    remote = Timestamp(T0 + 4 * 60_000, 0xFFFF, OTHER)
    clock = recv(Clock.new(NODE), remote, T0)
    assert (clock.last.millis, clock.last.counter) == (T0 + 4 * 60_000 + 1, 0)
    clock = recv(clock, remote, T0)
    assert (clock.last.millis, clock.last.counter) == (T0 + 4 * 60_000 + 1, 1)


def test_every_local_event_after_recv_is_ordered_after_the_remote() -> None:
    remote = Timestamp(T0 + 1000, 7, OTHER)
    clock = recv(Clock.new(NODE), remote, T0)
    _, ts = send(clock, T0)
    assert ts > remote


def test_clock_state_survives_serialization() -> None:
    clock, _ = send(Clock.new(NODE), T0)
    restored = Clock.from_json(clock.to_json())
    assert restored == clock
    _, a = send(clock, T0)
    _, b = send(restored, T0)
    assert a == b


def test_a_clock_saved_by_an_older_version_still_loads() -> None:
    saved = {"timestamp": str(Timestamp(T0, 7, NODE)), "max_drift_ms": 300_000}
    assert Clock.from_json(saved) == Clock(Timestamp(T0, 7, NODE))


def test_clock_rejects_a_bad_node_id() -> None:
    with pytest.raises(InvalidTimestamp):
        Clock.new("not-a-node")


def test_millis_of_agrees_with_parse() -> None:
    from crdt.timestamp import millis_of

    for millis in (0, 999, 951782400000, T0, 2524607999999):
        text = str(Timestamp(millis, 3, NODE))
        assert millis_of(text) == Timestamp.parse(text).millis == millis
