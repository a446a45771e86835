"""The cross-language vectors (frontend/tests/fixtures/cross-vectors.json) are the Python
core's own answers: vitest checks the TypeScript engine against that file, so it must be
exactly what the core computes now. A change to crdt/reconcile.py, merge.py or rounds.py
that moves an answer fails here until the file is regenerated (and then in vitest until the
TypeScript mirror follows)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "frontend" / "tests" / "fixtures" / "make_cross_vectors.py"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_cross_vectors", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_vectors_are_what_the_core_computes() -> None:
    made = generator()
    assert made.OUT.read_text() == made.encoded(), (
        "cross-vectors.json differs from the Python core's answers: run "
        "`python frontend/tests/fixtures/make_cross_vectors.py` if the change is intended"
    )


def test_the_vectors_cover_every_outcome_of_the_next_round() -> None:
    rounds = generator().vectors()["rounds"]
    outcomes = {
        "done": any(c["next"] == {"unrepaired": []} for c in rounds),
        "done, unrepaired": any(c["next"].get("unrepaired") for c in rounds),
        "push": any(c["next"].get("push") for c in rounds),
        "descend": any(c["next"].get("descend") for c in rounds),
        "restart": any(c["next"] == {"push": [], "descend": []} for c in rounds),
    }
    assert all(outcomes.values()), outcomes
