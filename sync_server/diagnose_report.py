"""The `diff` CLI's report of a `diagnose.compare` result: text for people at a terminal,
and a self-contained HTML page (inline SVG timeline, no external assets). Pure: the CLI
writes them."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from crdt.merkle import MINUTE_MS
from crdt.timestamp import iso_millis, millis_of

from .diagnose import line

DAY_MS = 86_400_000
#: Minutes of unnamed messages the text lists at most.
MAX_NOTES = 20
#: The timeline shows at most this many days (a range may span a pruned subtree's months).
MAX_DAYS = 62


def _side_text(name: str, side: Mapping[str, Any]) -> str:
    kind = side["kind"]
    if kind == "server":
        what = f"server {side['source']}"
    elif kind == "device":
        who = f" of {side['user_name']}" if side.get("user_name") else ""
        what = f"device {side.get('node', '?')}{who}, exported {side.get('exported_at', '?')}"
        what += f" ({side['source']})"
    else:
        what = f"trie {side['source']}"
    count = f", {side['count']} messages" if side.get("count") is not None else ""
    return f"{name}: {what}; root hash {side['root_hash']}{count}"


def _list(title: str, items: list[dict[str, Any]] | None, missing: str) -> list[str]:
    if items is None:
        return [f"{title}: {missing}"]
    if not items:
        return [f"{title}: none"]
    return [f"{title}: {len(items)}", *(f"  {line(d)}" for d in items)]


def text(result: Mapping[str, Any]) -> str:
    a, b = result["a"], result["b"]
    out: list[str] = []
    if result["in_sync"]:
        out.append("in sync: the two replicas hold the same messages")
        out += [_side_text("A", a), _side_text("B", b)]
        return "\n".join(out) + "\n"
    ranges = result["ranges"]
    out.append(f"{len(ranges)} divergent range(s):")
    out += [f"  {r['from']} .. {r['to']}  ({r['minutes']} min)" for r in ranges]
    out += [_side_text("A", a), _side_text("B", b), ""]
    bare = "carries no messages (a bare trie): what it holds that the other lacks is unnamed"
    out += _list("only on A (B lacks them)", result["only_a"], "A " + bare)
    out += _list("only on B (A lacks them)", result["only_b"], "B " + bare)
    if result.get("compared_until"):
        out.append(
            "note: a server's list stopped at its limit: messages are compared up to "
            f"{result['compared_until']} only"
        )
    unresolved = result["unresolved"]
    for u in unresolved[:MAX_NOTES]:
        out.append(
            f"note: {u['side'].upper()}'s trie holds messages in {u['from'][:16]} that no one "
            "names (a partial log or a pruned trie): they cannot be listed"
        )
    if len(unresolved) > MAX_NOTES:
        out.append(f"note: ... and {len(unresolved) - MAX_NOTES} more such minutes")
    return "\n".join(out) + "\n"


# -- the HTML page ---------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1b1b}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin-top:8px}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}code{font-size:12px}
.ok{color:#17643a;font-weight:600}.bad{color:#9b1c1c;font-weight:600}
svg text{font:11px system-ui,sans-serif;fill:#444}
.range{fill:#fde3b5}.a{fill:#1f5fbf}.b{fill:#c0392b}.grid{stroke:#ddd}.day{fill:#fafafa}
.key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-2px}
"""

LABEL_W, HOUR_W, ROW_H, TOP = 96, 48, 22, 20


def _days(result: Mapping[str, Any]) -> list[int]:
    """The days the ranges touch (the first MAX_DAYS + 1 at most)."""
    days: set[int] = set()
    for r in result["ranges"]:
        day = r["start"] // DAY_MS
        while day * DAY_MS < r["end"] and len(days) <= MAX_DAYS:
            days.add(day)
            day += 1
    return sorted(days)


def _minutes(items: Iterable[Mapping[str, Any]] | None) -> set[int]:
    return {millis_of(str(d["timestamp"])) // MINUTE_MS * MINUTE_MS for d in items or []}


def timeline(result: Mapping[str, Any]) -> str:
    """One row per day with a divergent range, 24 hour columns; the ranges shaded, the
    minutes holding a message only one side has marked (blue: only on A, red: only on B)."""
    touched = _days(result)
    days = touched[:MAX_DAYS]
    width = LABEL_W + 24 * HOUR_W + 4
    height = TOP + ROW_H * max(len(days), 1) + 4
    px = HOUR_W / 60  # one minute
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="divergent minutes by day">'
    ]
    for h in range(25):
        x = LABEL_W + h * HOUR_W
        parts.append(f'<line class="grid" x1="{x}" y1="{TOP - 4}" x2="{x}" y2="{height}"/>')
        if h < 24:
            parts.append(f'<text x="{x + 2}" y="{TOP - 8}">{h:02d}</text>')
    row_of = {day: i for i, day in enumerate(days)}
    for day, i in row_of.items():
        y = TOP + i * ROW_H
        label = iso_millis(day * DAY_MS)[:10]
        parts.append(
            f'<rect class="day" x="{LABEL_W}" y="{y}" width="{24 * HOUR_W}" height="{ROW_H - 2}"/>'
        )
        parts.append(f'<text x="4" y="{y + 14}">{label}</text>')

    def rect(cls: str, start: int, end: int, title: str) -> None:
        day = start // DAY_MS
        if day not in row_of:
            return
        y = TOP + row_of[day] * ROW_H
        x = LABEL_W + (start - day * DAY_MS) / MINUTE_MS * px
        w = max((end - start) / MINUTE_MS * px, 2.0)
        minute = iso_millis(start)[:16]
        parts.append(
            f'<rect class="{cls}" data-minute="{minute}" x="{x:.1f}" y="{y}" width="{w:.1f}" '
            f'height="{ROW_H - 2}"><title>{html.escape(title)}</title></rect>'
        )

    for r in result["ranges"]:
        start = r["start"]
        while start < r["end"]:  # split at midnight: one rect per day row
            end = min(r["end"], (start // DAY_MS + 1) * DAY_MS)
            rect("range", start, end, f"diverges {iso_millis(start)} .. {iso_millis(end)}")
            start = end
    for cls, key in (("a", "only_a"), ("b", "only_b")):
        for minute in sorted(_minutes(result[key])):
            rect(
                cls, minute, minute + MINUTE_MS, f"{iso_millis(minute)[:16]} only on {cls.upper()}"
            )
    parts.append("</svg>")
    if len(touched) > MAX_DAYS:
        parts.append(f"<p>Only the first {MAX_DAYS} days with a divergent range are drawn.</p>")
    return "".join(parts)


def _table(items: list[dict[str, Any]] | None, bare: str) -> str:
    if items is None:
        return f"<p>{html.escape(bare)}</p>"
    if not items:
        return "<p>None.</p>"
    titles = ("When (UTC)", "Who", "What", "Field", "Value", "Timestamp")
    head = "<tr>" + "".join(f"<th>{t}</th>" for t in titles) + "</tr>"
    rows = []
    for d in items:
        cells = [
            str(d["when"])[:19].replace("T", " "),
            str(d["who"]),
            str(d["summary"]),
            f"{d['dataset']}.{d['column']}",
            str(d["value_text"]),
        ]
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        rows.append(f"<tr>{tds}<td><code>{html.escape(str(d['timestamp']))}</code></td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def page(result: Mapping[str, Any]) -> str:
    a, b = result["a"], result["b"]
    esc = html.escape
    sides = "".join(f"<li>{esc(_side_text(n, s))}</li>" for n, s in (("A", a), ("B", b)))
    if result["in_sync"]:
        verdict = '<p class="ok">In sync: the two replicas hold the same messages.</p>'
    else:
        verdict = f'<p class="bad">{len(result["ranges"])} divergent range(s).</p>'
    ranges = "".join(
        f"<li>{esc(r['from'])} .. {esc(r['to'])} ({r['minutes']} min)</li>"
        for r in result["ranges"]
    )
    notes = "".join(
        f"<li>{esc(u['side'].upper())}'s trie holds messages in {esc(u['from'][:16])} that no "
        "one names (a partial log or a pruned trie)</li>"
        for u in result["unresolved"][:MAX_NOTES]
    )
    if result.get("compared_until"):
        notes += (
            "<li>A server's list stopped at its limit: messages are compared up to "
            f"{esc(result['compared_until'])} only.</li>"
        )
    bare = "carries no messages (a bare trie)."
    body = [
        "<h1>Recap replica diff</h1>",
        verdict,
        f"<ul>{sides}</ul>",
    ]
    if not result["in_sync"]:
        body += [
            "<h2>Divergent ranges</h2>",
            f"<ul>{ranges}</ul>",
            '<p class="key">Timeline (UTC):<span style="background:#fde3b5"></span>divergent'
            '<span style="background:#1f5fbf"></span>only on A'
            '<span style="background:#c0392b"></span>only on B</p>',
            timeline(result),
            "<h2>Only on A (B lacks them)</h2>",
            _table(result["only_a"], "A " + bare),
            "<h2>Only on B (A lacks them)</h2>",
            _table(result["only_b"], "B " + bare),
        ]
        if notes:
            body += ["<h2>Notes</h2>", f"<ul>{notes}</ul>"]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Recap replica diff</title>"
        f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
