"""Field values on the shared vectors (tests/vectors/values.json, also run by
frontend/tests/values.test.ts): the Python validator accepts exactly the values the rules
allow, so the server stores nothing a browser would refuse."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import orjson
import pytest

from crdt.errors import InvalidMessage
from crdt.message import Message
from crdt.schema import validate

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DATA: dict[str, Any] = orjson.loads((VECTORS / "values.json").read_bytes())
STAMP = "2026-12-01T08:00:00.000Z-0000-0123456789abcdef"


def test_the_vectors_are_the_written_rules() -> None:
    spec = importlib.util.spec_from_file_location("make_values", VECTORS / "make_values.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert orjson.loads(orjson.dumps(module.build())) == DATA


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: f"{c['column']}: {c['why']}")
def test_a_value_is_accepted_exactly_when_the_rules_allow_it(case: dict[str, Any]) -> None:
    raw = {
        "dataset": case["dataset"],
        "row": DATA["row"],
        "column": case["column"],
        "value": case["value"],
        "timestamp": STAMP,
    }
    if case["valid"]:
        validate(Message.from_json(raw))
    else:
        with pytest.raises(InvalidMessage):
            validate(Message.from_json(raw))
