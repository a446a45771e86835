"""The data model is said once, in crdt/schema.py. Everything that repeats a part of it is
checked against it here (Python) or against its committed copy tests/vectors/schema.json
(the TypeScript engine, frontend/tests/schema.test.ts; the database's tables,
tests/server/test_schema_tables.py)."""

from __future__ import annotations

import json
import typing
from pathlib import Path

from crdt import merge, schema
from sync_server import auth, models
from sync_server.airtable import mapping
from sync_server.services.records import CATALOG_COLUMNS

SCHEMA_JSON = Path(__file__).resolve().parents[1] / "vectors" / "schema.json"


def test_the_committed_copy_is_the_source() -> None:
    written = json.loads(SCHEMA_JSON.read_text())
    assert written == json.loads(json.dumps(schema.describe())), (
        "tests/vectors/schema.json is stale: regenerate it with "
        "`python tests/vectors/make_schema.py`"
    )


def test_the_api_enumerations_are_the_model_s() -> None:
    assert typing.get_args(models.Status) == schema.PRE_ORDER_STATUSES
    assert typing.get_args(models.ConflictOut.model_fields["kind"].annotation) == typing.get_args(
        merge.ConflictKind
    )
    assert typing.get_args(models.UserOut.model_fields["role"].annotation) == auth.ROLES
    for dataset, columns in CATALOG_COLUMNS.items():
        assert set(columns) | {"tombstone"} == set(schema.DATASETS[dataset])


def test_the_airtable_import_accepts_exactly_the_model_s_statuses() -> None:
    def status_of(cell: str) -> object:
        record = {"id": "rec1", "createdTime": "2026-01-01T00:00:00.000Z", "fields": {}}
        record["fields"] = {"Status": cell, "Last modified": "2026-01-01T00:00:00.000Z"}
        line = mapping.read_record(record, mapping.DEFAULT_FIELD_MAP)
        return line.values.get("status", "refused")

    for status in schema.PRE_ORDER_STATUSES:
        assert status_of(status.title()) == status
    assert status_of("Draft") == "refused"
