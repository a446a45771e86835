"""Where two replicas differ, in human terms: pure functions (no I/O) shared by the server's
`POST /debug/merkle/compare`, the app's diagnostics page (which shows what that endpoint
says) and `python -m sync_server diff`, so all three name a message the same way.

* `describe` turns one message into who changed which field of which order, line, partner
  or product, to what, and when (from the rows it touches: the server's current rows, or a
  device export's registers);
* `held_by_trie` tells, minute by minute, which of one side's messages another side's trie
  holds, from the hashes alone: a device's log is partial by design (DESIGN.md, "What a
  device keeps"), so the messages it holds only as trie hashes are matched by their XOR;
* `compare` puts two sides together: the divergent ranges and, for each side that carries
  messages, those the other side lacks.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crdt.merkle import CHILD_KEYS, KEY_LENGTH, MINUTE_MS, Trie, children, key_range, timestamp_key
from crdt.merkle import to_signed32 as signed
from crdt.message import Message, Scalar
from crdt.schema import DATASETS
from crdt.timestamp import hash_timestamp, iso_millis, millis_of, node_of

RowKey = tuple[str, str]
#: The rows a description may name, (dataset, id) -> column -> current value.
Rows = dict[RowKey, dict[str, Scalar]]

UNKNOWN_WHO = "unknown device"
#: What a record of each dataset is called.
RECORDS = {
    "pre_orders": "order",
    "pre_order_flows": "line",
    "partners": "partner",
    "products": "product",
    "profiles": "profile",
}
#: Field labels where the column's name is not already one (underscores become spaces).
LABELS = {
    "partner_id": "partner",
    "product_id": "product",
    "pre_order_id": "order",
    "total_cents": "total",
    "price_cents": "price",
    "unit_price_cents": "unit price",
    "tombstone": "deleted",
    "sku": "SKU",
    "avatar": "picture",
}
MONEY = {"total_cents", "price_cents", "unit_price_cents"}
#: Columns naming another row: (column) -> the dataset of the row they name.
REFS = {"partner_id": "partners", "product_id": "products", "pre_order_id": "pre_orders"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: The most subsets of one size `held_by_trie` tries in a minute.
MAX_COMBINATIONS = 50_000


def field_label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " "))


def rows_from_messages(messages: Iterable[Message]) -> Rows:
    """Each field's latest value among `messages` (a device export's registers are exactly
    its rows' current values, as the messages that wrote them)."""
    latest: dict[tuple[str, str, str], Message] = {}
    for m in messages:
        held = latest.get(m.field)
        if held is None or held.timestamp < m.timestamp:
            latest[m.field] = m
    rows: Rows = {}
    for (dataset, row, column), m in latest.items():
        rows.setdefault((dataset, row), {})[column] = m.value
    return rows


def _ref(dataset: str, value: Any) -> RowKey | None:
    if isinstance(value, str) and _UUID.fullmatch(value) and dataset in DATASETS:
        return (dataset, value)
    return None


def wanted_rows(messages: Iterable[Message], rows: Rows) -> set[RowKey]:
    """The rows describing `messages` needs that `rows` does not hold yet: each message's
    own row, the rows its value names, a line's order and product and an order's partner.
    Asked again after fetching them until it is empty (three rounds at most)."""
    wanted: set[RowKey | None] = set()
    for m in messages:
        own = _ref(m.dataset, m.row)
        wanted.add(own)
        if m.column in REFS:
            wanted.add(_ref(REFS[m.column], m.value))
        values = rows.get(own, {}) if own else {}
        for column, dataset in REFS.items():
            target = _ref(dataset, values.get(column))
            wanted.add(target)
            if dataset == "pre_orders" and target is not None:
                wanted.add(_ref("partners", rows.get(target, {}).get("partner_id")))
    return {k for k in wanted if k is not None and k not in rows}


def _name(rows: Rows, dataset: str, row: Any) -> str | None:
    if not isinstance(row, str):
        return None
    name = rows.get((dataset, row), {}).get("name")
    return name if isinstance(name, str) and name else None


def _quote(text: str, limit: int = 80) -> str:
    return '"' + (text if len(text) <= limit else text[: limit - 1] + "…") + '"'


def _number(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def value_text(column: str, value: Scalar, rows: Rows) -> str:
    """A value as people read it: a partner's or product's name for their ids, money in
    units, a picture as "(picture)", text quoted."""
    if value is None:
        return "(empty)"
    if column == "tombstone":
        return "yes" if value == 1 else "no"
    if column in MONEY and isinstance(value, int) and not isinstance(value, bool):
        return f"{value / 100:.2f}"
    if column in REFS:
        name = _name(rows, REFS[column], value)
        if name is not None:
            return _quote(name)
        return f"{RECORDS[REFS[column]]} {str(value)[:8]}"
    if column == "avatar":
        return "(picture)"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool):
        return str(value).lower()
    return _number(value)


def _order(rows: Rows, order_id: Any, message: Message) -> dict[str, Any] | None:
    if not isinstance(order_id, str):
        return None
    values = rows.get(("pre_orders", order_id), {})
    partner_id = values.get("partner_id")
    date = values.get("delivery_date")
    if message.dataset == "pre_orders" and message.row == order_id:
        # The message's own value stands in for a row the describer never saw.
        if partner_id is None and message.column == "partner_id":
            partner_id = message.value
        if date is None and message.column == "delivery_date":
            date = message.value
    return {
        "id": order_id,
        "partner": _name(rows, "partners", partner_id),
        "date": date if isinstance(date, str) else None,
    }


def order_phrase(order: Mapping[str, Any]) -> str:
    """`"Acme Foods" 2026-12-02 order`, or `order 1a2b3c4d` when neither is known."""
    parts = []
    if order.get("partner"):
        parts.append(_quote(str(order["partner"])))
    if order.get("date"):
        parts.append(str(order["date"]))
    return " ".join(parts) + " order" if parts else f"order {str(order['id'])[:8]}"


def describe(message: Message, rows: Rows, who: str | None) -> dict[str, Any]:
    """One message in human terms. `rows` holds the rows it touches (`wanted_rows`); `who`
    is its sender's name (None: "unknown device"). The fields are a stable contract: the
    app's diagnostics page renders them (docs: DESIGN.md, "Diagnostics")."""
    dataset, row, column, value = message.dataset, message.row, message.column, message.value
    own = rows.get((dataset, row), {})
    record = RECORDS.get(dataset, dataset)
    order = product = name = None
    if dataset == "pre_orders":
        order = _order(rows, row, message)
        target = order_phrase(order) if order else f"order {row[:8]}"
    elif dataset == "pre_order_flows":
        parent = own.get("pre_order_id")
        product_id = own.get("product_id")
        if parent is None and column == "pre_order_id":
            parent = value
        if product_id is None and column == "product_id":
            product_id = value
        order = _order(rows, parent, message)
        product = _name(rows, "products", product_id)
        line = product or (f"product {product_id[:8]}" if isinstance(product_id, str) else row[:8])
        target = f"{order_phrase(order)} (line: {line})" if order else f"line {line}"
    else:
        name = _name(rows, dataset, row)
        if name is None and column == "name" and isinstance(value, str) and value:
            name = value
        target = f"{record} {_quote(name)}" if name else f"{record} {row[:8]}"
    label = field_label(column)
    shown = value_text(column, value, rows)
    if column == "tombstone":
        summary = f"{'deleted' if value == 1 else 'restored'} {target}"
    else:
        summary = f"set {label} = {shown} on {target}"
    millis = millis_of(message.timestamp)
    return {
        "timestamp": message.timestamp,
        "when": iso_millis(millis),
        "dataset": dataset,
        "row": row,
        "column": column,
        "value": value,
        "node": node_of(message.timestamp),
        "who": who or UNKNOWN_WHO,
        "record": record,
        "field": label,
        "value_text": shown,
        "order": order,
        "product": product,
        "name": name,
        "target": target,
        "summary": summary,
    }


def line(described: Mapping[str, Any]) -> str:
    """`2026-11-28 09:14:03  Ana Rep  set quantity = 12 on "Acme Foods" 2026-12-02 order
    (line: Tomatoes)  [<timestamp>]`: the timestamp last, to find the message by."""
    when = str(described["when"])
    return (
        f"{when[:10]} {when[11:19]}  {described['who']}  {described['summary']}"
        f"  [{described['timestamp']}]"
    )


# -- ranges and tries -------------------------------------------------------------------------


def range_json(start: int, end: int) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "from": iso_millis(start),
        "to": iso_millis(end),
        "minutes": (end - start) // MINUTE_MS,
    }


def cover(start: int, end: int) -> list[str]:
    """The trie paths whose ranges tile [start, end) exactly (a divergent range is a union
    of whole nodes), largest first, in time order."""
    out: list[str] = []

    def walk(prefix: str) -> None:
        s, e = key_range(prefix)
        if e <= start or s >= end:
            return
        if (start <= s and e <= end) or len(prefix) == KEY_LENGTH:
            out.append(prefix)
            return
        for k in CHILD_KEYS:
            walk(prefix + k)

    walk("")
    return out


def inside(timestamp: str, ranges: list[tuple[int, int]]) -> bool:
    millis = millis_of(timestamp)
    return any(s <= millis < e for s, e in ranges)


def _complete(node: Trie) -> bool:
    acc = 0
    for k in children(node):
        acc ^= node[k].get("hash", 0)
    return bool(signed(acc) == node.get("hash", 0))


def minute_hash(trie: Trie, key: str) -> int | None:
    """The trie's hash of one minute (0 when it holds nothing there), or None when the
    trie is pruned above it and cannot say."""
    node = trie
    for c in key:
        child = node.get(c)
        if child is None:
            return 0 if _complete(node) else None
        node = child
    return int(node.get("hash", 0))


def minutes_in(trie: Trie, ranges: list[tuple[int, int]]) -> set[str]:
    """The minute keys the trie holds messages in, inside the ranges."""
    out: set[str] = set()

    def walk(node: Trie, prefix: str) -> None:
        s, e = key_range(prefix)
        if not any(rs < e and s < re_ for rs, re_ in ranges):
            return
        if len(prefix) == KEY_LENGTH:
            if node.get("hash", 0):
                out.add(prefix)
            return
        for k in children(node):
            walk(node[k], prefix + k)

    walk(trie, "")
    return out


def _xor(timestamps: Iterable[str]) -> int:
    acc = 0
    for ts in timestamps:
        acc ^= hash_timestamp(ts)
    return signed(acc)


@dataclass
class Held:
    """What a trie holds of a set of candidate messages (`held_by_trie`)."""

    #: candidates the trie holds (it has no named copy of them)
    held: set[str] = field(default_factory=set)
    #: minutes (start millis) where the trie's hash is not explained by the messages named:
    #: it holds messages no one can name here, or the trie is pruned
    unresolved: list[int] = field(default_factory=list)


def held_by_trie(
    trie: Trie, named: set[str], candidates: set[str], ranges: list[tuple[int, int]]
) -> Held:
    """Which `candidates` (another side's timestamps in `ranges`) a side holds, given its
    trie and the timestamps it names itself (`named`: its log and registers). Minute by
    minute, the trie's hash is the XOR of every timestamp it holds there: take away the
    named ones and look for the smallest subset of the unnamed candidates that makes up the
    rest (usually the empty set, or a message kept only in the trie)."""
    out = Held()
    by_minute: dict[str, list[str]] = {}
    for ts in candidates | named:
        if inside(ts, ranges):
            by_minute.setdefault(timestamp_key(millis_of(ts)), []).append(ts)
    for key in sorted(set(by_minute) | minutes_in(trie, ranges)):
        here = by_minute.get(key, [])
        h = minute_hash(trie, key)
        own = [ts for ts in here if ts in named]
        unnamed = sorted(ts for ts in here if ts not in named)
        if h is None:
            out.unresolved.append(key_range(key)[0])
            continue
        rest = signed(h ^ _xor(own))
        found = _subset(unnamed, rest)
        if found is None:
            out.unresolved.append(key_range(key)[0])
        else:
            out.held.update(found)
    return out


def _subset(timestamps: list[str], target: int) -> set[str] | None:
    """The smallest subset of `timestamps` whose hashes XOR to `target`, searched from both
    ends (few held, or few lacking: all held but a few) while the combinations stay few;
    None when none is found."""
    hashes = [hash_timestamp(ts) for ts in timestamps]
    everything = _xor(timestamps)
    for size in range(len(timestamps) + 1):
        if math.comb(len(timestamps), size) > MAX_COMBINATIONS:
            return None
        for combo in itertools.combinations(range(len(timestamps)), size):
            h = 0
            for i in combo:
                h ^= hashes[i]
            h = signed(h)
            if h == target:
                return {timestamps[i] for i in combo}
            if signed(h ^ everything) == target:
                return set(timestamps) - {timestamps[i] for i in combo}
    return None


# -- two sides ----------------------------------------------------------------------------------


@dataclass
class Side:
    """One replica being compared: a server, a device export or a bare trie."""

    label: str  # "a" or "b"
    kind: str  # "server", "device" or "trie"
    source: str
    trie: Trie
    root_hash: int
    count: int | None = None
    #: the messages it carries in the divergent ranges, described, by timestamp (None: it
    #: carries none, a bare trie)
    named: dict[str, dict[str, Any]] | None = None
    #: a server's list was cut at its limit
    truncated: bool = False
    about: dict[str, Any] = field(default_factory=dict)
    #: every message a device export carries (its log and registers), by timestamp
    carried: dict[str, Message] | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "root_hash": self.root_hash,
            "count": self.count,
            "messages_in_ranges": None if self.named is None else len(self.named),
            "truncated": self.truncated,
            **self.about,
        }


def _by_time(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda d: str(d["timestamp"]))


def listed_until(named: Iterable[str], truncated: bool) -> int | None:
    """Where a list cut at its limit stops being complete: the start of the minute of its
    last message (a server lists in timestamp order); None for a complete list."""
    if not truncated:
        return None
    last = max(named, default=None)
    return None if last is None else millis_of(last) // MINUTE_MS * MINUTE_MS


def clip(ranges: list[tuple[int, int]], until: int | None) -> list[tuple[int, int]]:
    """The parts of `ranges` before `until` (all of them for None)."""
    if until is None:
        return ranges
    return [(s, min(e, until)) for s, e in ranges if s < until]


def compare(a: Side, b: Side, ranges: list[tuple[int, int]]) -> dict[str, Any]:
    """The diff of two sides, as `python -m sync_server diff --json` prints it: the ranges,
    each side's summary, and for each side that carries messages those the other side
    lacks (`only_a`, `only_b`; None for a bare trie), plus the minutes where a trie holds
    messages neither side can name (`unresolved`). When a server's list was cut at its
    limit, messages are compared up to where it stops (`compared_until`)."""
    cuts = [t for t in (listed_until(s.named or {}, s.truncated) for s in (a, b)) if t is not None]
    until = min(cuts, default=None)
    compared = clip(ranges, until)
    unresolved: list[dict[str, Any]] = []
    held: dict[str, set[str]] = {}
    for side, other in ((a, b), (b, a)):
        named = set(side.named or {})
        if side.named is None and other.named is None:
            held[side.label] = set()
            continue  # two bare tries: nothing to match
        candidates = set(other.named or {}) - named
        found = held_by_trie(side.trie, named, candidates, compared)
        held[side.label] = named | found.held
        unresolved += [
            {"side": side.label, "from": iso_millis(m), "to": iso_millis(m + MINUTE_MS)}
            for m in found.unresolved
        ]

    def only(side: Side, other: Side) -> list[dict[str, Any]] | None:
        if side.named is None:
            return None
        return _by_time(
            d
            for ts, d in side.named.items()
            if ts not in held[other.label] and inside(ts, compared)
        )

    return {
        "in_sync": not ranges,
        "ranges": [range_json(s, e) for s, e in ranges],
        "a": a.summary(),
        "b": b.summary(),
        "only_a": only(a, b),
        "only_b": only(b, a),
        "unresolved": sorted(unresolved, key=lambda u: (u["from"], u["side"])),
        "compared_until": None if until is None else iso_millis(until),
    }
