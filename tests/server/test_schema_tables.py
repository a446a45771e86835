"""The migrations' tables hold exactly the model of crdt/schema.py: for every dataset a
table with the tenant, the row id, its version, its creator, and for each column its value (in the
column type's SQL type) and its timestamp. A column added to the model without a
migration, or a migration that drifts from the model, fails here."""

from __future__ import annotations

from crdt.schema import DATASETS
from tests.conftest import db_fetch


async def test_every_dataset_table_is_the_model(db_url: str) -> None:
    rows = await db_fetch(
        db_url,
        """SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE table_schema = 'public' AND table_name = ANY($1::text[])""",
        list(DATASETS),
    )
    found: dict[str, dict[str, str]] = {}
    for r in rows:
        found.setdefault(r["table_name"], {})[r["column_name"]] = r["data_type"]
    for dataset, columns in DATASETS.items():
        expected = {"tenant_id": "uuid", "id": "uuid", "version": "integer", "created_by": "uuid"}
        for column, kind in columns.items():
            expected[column] = kind.sql
            expected[f"{column}_ts"] = "text"
        assert found.get(dataset) == expected, dataset
