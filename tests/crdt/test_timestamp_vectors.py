"""The timestamp grammar (DESIGN.md, "Clock") on the shared vectors
(tests/vectors/timestamps.json, also run by frontend/tests/timestamps.test.ts), and the
round trip `format(parse(s)) == s` as a property: one string, one instant, on every
replica."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.errors import InvalidMessage, InvalidTimestamp
from crdt.message import Message
from crdt.timestamp import (
    MAX_COUNTER,
    MAX_MILLIS,
    Timestamp,
    checked_message_millis,
    checked_millis,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DATA: dict[str, Any] = orjson.loads((VECTORS / "timestamps.json").read_bytes())
ROW = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_timestamps", VECTORS / "make_timestamps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_vectors_are_what_the_oracle_says() -> None:
    assert orjson.loads(orjson.dumps(generator().build())) == DATA
    assert len(DATA["cases"]) >= 200
    outcomes = {(c["timestamp"], c["message"]) for c in DATA["cases"]}
    assert outcomes == {(True, True), (True, False), (False, False)}


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["why"])
def test_the_parser_accepts_exactly_the_grammar(case: dict[str, Any]) -> None:
    text = case["text"]
    if case["timestamp"]:
        assert checked_millis(text) == case["millis"]
        assert str(Timestamp.parse(text)) == text
    else:
        with pytest.raises(InvalidTimestamp):
            checked_millis(text)
    message = {"dataset": "products", "row": ROW, "column": "name", "value": "x"}
    if case["message"]:
        assert checked_message_millis(text) == case["millis"]
        assert Message.from_json({**message, "timestamp": text}).timestamp == text
    else:
        with pytest.raises(InvalidTimestamp):
            checked_message_millis(text)
        with pytest.raises(InvalidMessage):
            Message.from_json({**message, "timestamp": text})


timestamps = st.builds(
    Timestamp,
    st.integers(0, MAX_MILLIS),
    st.integers(0, MAX_COUNTER),
    st.text("0123456789abcdef", min_size=16, max_size=16),
)


@given(timestamps)
def test_every_timestamp_has_one_spelling(ts: Timestamp) -> None:
    text = str(ts)
    assert len(text) == 46
    assert Timestamp.parse(text) == ts
    assert str(Timestamp.parse(text)) == text


near_misses = st.builds(
    lambda ts, at, ch: (s := str(ts))[:at] + ch + s[at + 1 :],
    timestamps,
    st.integers(0, 45),
    st.characters(codec="utf-8"),
)


@given(near_misses)
def test_whatever_parses_formats_back_to_itself(text: str) -> None:
    try:
        parsed = Timestamp.parse(text)
    except InvalidTimestamp:
        return
    assert str(parsed) == text
