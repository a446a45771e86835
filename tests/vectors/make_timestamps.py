"""Write tests/vectors/timestamps.json: strings that are, and are not, canonical timestamps,
with the instant each valid one names, for the Python and the TypeScript parsers
(tests/crdt/test_timestamp_vectors.py, frontend/tests/timestamps.test.ts).

    python tests/vectors/make_timestamps.py

The expectations come from an oracle written apart from both parsers: Python's `datetime`
decides whether a date and time exist, a plain reading of the grammar (DESIGN.md, "Clock")
decides the rest. Deterministic (a seeded generator).
"""

from __future__ import annotations

import datetime
import json
import random
import string
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("timestamps.json")
SEED = 20261201
NODE = "0123456789abcdef"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
MAX_MILLIS = 253402300800000 - 1
SPAN = (3**15 * 60_000, 3**16 * 60_000 - 1)  # the trie's: 1997-04-13 .. 2051-11-05
HEX_UPPER = "0123456789ABCDEF"
HEX_LOWER = "0123456789abcdef"


def oracle(text: object) -> dict[str, Any]:
    """What the grammar says of `text`: `timestamp` (a canonical timestamp), `millis` (its
    instant), `message` (also inside the trie's span, as a message's timestamp must be)."""
    no = {"timestamp": False, "message": False}
    if not isinstance(text, str) or len(text) != 46:
        return no
    shape = "dddd-dd-ddTdd:dd:dd.dddZ-hhhh-nnnnnnnnnnnnnnnn"
    for ch, kind in zip(text, shape, strict=True):
        ok = {
            "d": ch in string.digits,
            "h": ch in HEX_UPPER,
            "n": ch in HEX_LOWER,
        }.get(kind, ch == kind)
        if not ok:
            return no
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour, minute, second, milli = (
        int(text[11:13]),
        int(text[14:16]),
        int(text[17:19]),
        int(text[20:23]),
    )
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
    except ValueError:
        return no
    millis = int((moment - EPOCH).total_seconds()) * 1000 + milli
    if not 0 <= millis <= MAX_MILLIS:
        return no
    return {"timestamp": True, "millis": millis, "message": SPAN[0] <= millis <= SPAN[1]}


def iso(millis: int) -> str:
    moment = EPOCH + datetime.timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def stamp(date: str, time: str = "12:34:56.789", counter: str = "0000", node: str = NODE) -> str:
    return f"{date}T{time}Z-{counter}-{node}"


def hand_picked() -> list[tuple[str, object]]:
    """(why, text) of the cases the grammar singles out."""
    cases: list[tuple[str, object]] = [
        ("the epoch", stamp("1970-01-01", "00:00:00.000")),
        ("the last instant of year 9999", stamp("9999-12-31", "23:59:59.999")),
        ("before the epoch", stamp("1969-12-31", "23:59:59.999")),
        ("year 0000", stamp("0000-01-01")),
        ("the trie's first minute", f"{iso(SPAN[0])}-0000-{NODE}"),
        ("just before the trie's span", f"{iso(SPAN[0] - 1)}-0000-{NODE}"),
        ("the trie's last instant", f"{iso(SPAN[1])}-0000-{NODE}"),
        ("just after the trie's span", f"{iso(SPAN[1] + 1)}-0000-{NODE}"),
        ("the reference's own example", "2026-11-23T06:00:00.005Z-001A-abcdef0123456789"),
        ("a leap day", stamp("2024-02-29")),
        ("a leap day of a century divisible by 400", stamp("2000-02-29")),
        ("no leap day in a common year", stamp("2023-02-29")),
        ("no leap day in 2100", stamp("2100-02-29")),
        ("February 30", stamp("2024-02-30")),
        ("day 00", stamp("2026-05-00")),
        ("month 00", stamp("2026-00-10")),
        ("month 13", stamp("2026-13-10")),
        ("hour 23", stamp("2026-05-10", "23:00:00.000")),
        ("hour 24", stamp("2026-05-10", "24:00:00.000")),
        ("minute 59", stamp("2026-05-10", "10:59:00.000")),
        ("minute 60", stamp("2026-05-10", "10:60:00.000")),
        ("second 59", stamp("2026-05-10", "04:24:59.999")),
        ("second 60 (a leap second)", stamp("2026-05-10", "04:24:60.000")),
        ("second 61", stamp("2026-05-10", "04:24:61.000")),
        ("the issue's poisoned string", stamp("2026-11-23", "04:24:60.000")),
        ("millis 000", stamp("2026-05-10", "10:00:00.000")),
        ("millis 999", stamp("2026-05-10", "10:00:00.999")),
        ("two-digit millis", "2026-05-10T10:00:00.99Z-0000-" + NODE),
        ("four-digit millis", "2026-05-10T10:00:00.9999Z-0000-" + NODE),
        ("no millis", "2026-05-10T10:00:00Z-0000-" + NODE),
        ("counter 0000", stamp("2026-05-10", counter="0000")),
        ("counter FFFF", stamp("2026-05-10", counter="FFFF")),
        ("counter in lower case", stamp("2026-05-10", counter="ffff")),
        ("counter in mixed case", stamp("2026-05-10", counter="aB12")),
        ("three-digit counter", f"2026-05-10T12:34:56.789Z-FFF-{NODE}"),
        ("five-digit counter", f"2026-05-10T12:34:56.789Z-10000-{NODE}"),
        ("a counter digit G", stamp("2026-05-10", counter="00G0")),
        ("node in upper case", stamp("2026-05-10", node=NODE.upper())),
        ("node with one upper-case digit", stamp("2026-05-10", node="0123456789abcdeF")),
        ("fifteen-digit node", f"2026-05-10T12:34:56.789Z-0000-{NODE[:15]}"),
        ("seventeen-digit node", f"2026-05-10T12:34:56.789Z-0000-{NODE}0"),
        ("a node digit g", stamp("2026-05-10", node="0123456789abcdeg")),
        ("a leading space", " " + stamp("2026-05-10")),
        ("a trailing space", stamp("2026-05-10") + " "),
        ("a trailing newline", stamp("2026-05-10") + "\n"),
        ("a tab inside", stamp("2026-05-10").replace("T", "\t")),
        ("a space for T", stamp("2026-05-10").replace("T", " ")),
        ("lower-case t", stamp("2026-05-10").replace("T", "t")),
        ("lower-case z", stamp("2026-05-10").replace("Z", "z")),
        ("+00:00 for Z", "2026-05-10T12:34:56.789+00:00-0000-" + NODE),
        ("a comma for the decimal point", stamp("2026-05-10").replace(".", ",")),
        ("slashes in the date", stamp("2026/05/10")),
        ("Arabic-Indic digits in the year", stamp("٢٠٢٦-05-10")),
        ("fullwidth digits in the day", stamp("2026-05-１０")),
        ("a superscript digit", stamp("2026-05-1²")),
        ("a fullwidth hex digit in the node", stamp("2026-05-10", node="0123456789abcde０")),
        ("six-digit year", "+020260-05-10T12:34:56.789Z-0000-" + NODE),
        ("a two-digit year", "26-05-10T12:34:56.789Z-0000-" + NODE),
        ("the empty string", ""),
        ("a date only", "2026-05-10"),
        ("a number, not a string", 1778416496789),
        ("null", None),
        ("a list", [stamp("2026-05-10")]),
    ]
    for month, last in [("01", 31), ("03", 31), ("04", 30), ("05", 31), ("06", 30), ("07", 31),
                        ("08", 31), ("09", 30), ("10", 31), ("11", 30), ("12", 31)]:  # fmt: skip
        cases.append((f"day {last} of month {month}", stamp(f"2026-{month}-{last}")))
        cases.append((f"day {last + 1} of month {month}", stamp(f"2026-{month}-{last + 1}")))
    return cases


def generated(rng: random.Random) -> list[tuple[str, object]]:
    """Random valid timestamps over the years, and each with one character changed."""
    out: list[tuple[str, object]] = []
    low, high = 0, 4102444800000  # 1970 .. 2100
    for i in range(80):
        millis = rng.randrange(low, high)
        counter = "".join(rng.choice(HEX_UPPER) for _ in range(4))
        node = "".join(rng.choice(HEX_LOWER) for _ in range(16))
        text = f"{iso(millis)}-{counter}-{node}"
        out.append((f"random {i}", text))
        at = rng.randrange(len(text))
        alphabet = string.digits + HEX_UPPER + HEX_LOWER + "-:.TZ ٣"
        changed = text[:at] + rng.choice(alphabet) + text[at + 1 :]
        if changed != text:
            out.append((f"random {i} with character {at} changed", changed))
    return out


def build() -> dict[str, Any]:
    rng = random.Random(SEED)
    cases = []
    for why, text in hand_picked() + generated(rng):
        cases.append({"why": why, "text": text, **oracle(text)})
    return {
        "generator": "tests/vectors/make_timestamps.py",
        "grammar": "DESIGN.md, Clock",
        "message_span_millis": list(SPAN),
        "cases": cases,
    }


if __name__ == "__main__":
    data = build()
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    valid = sum(c["timestamp"] for c in data["cases"])
    print(f"wrote {OUT}: {len(data['cases'])} cases, {valid} valid")
