"""Materialized state: for every row, each column's winning value and `<column>_ts`, its
timestamp (one LWW register per field). Tombstoned rows stay, so a late edit always has a
register to lose to."""

from __future__ import annotations

from collections import defaultdict

from crdt.merge import Register
from crdt.schema import DATASETS

from .common import LIVE, Conn, scalar_from_db, value_text

RowKey = tuple[str, str]


def _select_rows_sql(dataset: str) -> str:
    cols = ", ".join(f"{c}, {c}_ts" for c in DATASETS[dataset])
    return (
        f"SELECT id::text AS id, {cols} FROM {dataset} "  # noqa: S608
        "WHERE tenant_id = $1 AND id = ANY($2::uuid[])"
    )


def _upsert_rows_sql(dataset: str) -> str:
    """One statement per dataset: every changed row written once, each column guarded by
    its own LWW check (a column the batch did not change arrives with a null timestamp and
    keeps its value), and its version counted up. `created_by` is written by the insert
    only: a row's creator is whoever first wrote it, whatever comes after."""
    columns = list(DATASETS[dataset])
    names = ", ".join(f"{c}, {c}_ts" for c in columns)
    arrays = ", ".join(f"${2 + 2 * i}::text[], ${3 + 2 * i}::text[]" for i in range(len(columns)))
    aliases = ", ".join(f"v_{c}, t_{c}" for c in columns)
    select = ", ".join(f"u.v_{c}::{DATASETS[dataset][c].sql}, u.t_{c}" for c in columns)
    n = 2 + 2 * len(columns)
    updates = ", ".join(
        f"{c} = CASE WHEN {_wins(c)} THEN EXCLUDED.{c} ELSE t.{c} END, "
        f"{c}_ts = CASE WHEN {_wins(c)} THEN EXCLUDED.{c}_ts ELSE t.{c}_ts END"
        for c in columns
    )
    # The row's version: 1 when created (the column's default), one more per batch that
    # changes any of its fields.
    changed = " OR ".join(f"({_wins(c)})" for c in columns)
    updates += f", version = t.version + CASE WHEN {changed} THEN 1 ELSE 0 END"
    return (
        f"INSERT INTO {dataset} AS t (tenant_id, id, created_by, {names}) "  # noqa: S608
        f"SELECT $1, u.id, u.created_by, {select} "
        f"FROM unnest(${n}::uuid[], ${n + 1}::uuid[], {arrays}) "
        f"AS u(id, created_by, {aliases}) ON CONFLICT (tenant_id, id) DO UPDATE SET {updates}"
    )


def _wins(column: str) -> str:
    return (
        f"EXCLUDED.{column}_ts IS NOT NULL AND "
        f"(t.{column}_ts IS NULL OR t.{column}_ts < EXCLUDED.{column}_ts)"
    )


SELECT_ROWS = {ds: _select_rows_sql(ds) for ds in DATASETS}
UPSERT_ROWS = {ds: _upsert_rows_sql(ds) for ds in DATASETS}


def registers_of_record(record: object, dataset: str) -> dict[str, Register]:
    """The registers held by one selected row (its columns and `<column>_ts`)."""
    out = {}
    for column in DATASETS[dataset]:
        ts = record[f"{column}_ts"]  # type: ignore[index]
        if ts is not None:
            out[column] = Register(scalar_from_db(record[column]), ts)  # type: ignore[index]
    return out


async def read(conn: Conn, tenant_id: str, rows: set[RowKey]) -> dict[RowKey, dict[str, Register]]:
    """The registers of the given (dataset, id) rows that exist."""
    by_dataset: dict[str, list[str]] = defaultdict(list)
    for dataset, row in rows:
        by_dataset[dataset].append(row)
    out: dict[RowKey, dict[str, Register]] = {}
    for dataset, ids in by_dataset.items():
        for record in await conn.fetch(SELECT_ROWS[dataset], tenant_id, ids):
            out[(dataset, record["id"])] = registers_of_record(record, dataset)
    return out


async def write(
    conn: Conn,
    tenant_id: str,
    changed: dict[tuple[str, str, str], Register],
    creators: dict[RowKey, str | None] | None = None,
) -> None:
    """Upsert the registers that moved, one statement per dataset; a row this creates
    records its creator from `creators` (the user who sent its first message)."""
    by_row: dict[str, dict[str, dict[str, Register]]] = defaultdict(dict)
    for (dataset, row, column), reg in changed.items():
        by_row[dataset].setdefault(row, {})[column] = reg
    for dataset, rows in sorted(by_row.items()):
        ids = list(rows)
        arrays: list[list[str | None]] = []
        for column in DATASETS[dataset]:
            regs = [rows[row].get(column) for row in ids]
            arrays.append([value_text(r.value) if r else None for r in regs])
            arrays.append([r.timestamp if r else None for r in regs])
        made_by = [(creators or {}).get((dataset, row)) for row in ids]
        await conn.execute(UPSERT_ROWS[dataset], tenant_id, *arrays, ids, made_by)


async def with_version(
    conn: Conn, tenant_id: str, dataset: str, row: str
) -> tuple[dict[str, Register], int] | None:
    """A row's registers and version, or None if it has none."""
    record = await conn.fetchrow(
        SELECT_ROWS[dataset].replace("SELECT id::text AS id,", "SELECT id::text AS id, version,"),
        tenant_id,
        [row],
    )
    if record is None:
        return None
    return registers_of_record(record, dataset), int(record["version"])


async def live_row(
    conn: Conn, tenant_id: str, dataset: str, row: str
) -> dict[str, Register] | None:
    """The row's registers, or None if it does not exist or is deleted."""
    regs = (await read(conn, tenant_id, {(dataset, row)})).get((dataset, row))
    if not regs:
        return None
    tomb = regs.get("tombstone")
    if tomb is not None and tomb.value == 1:
        return None
    return regs


async def live_ids(conn: Conn, tenant_id: str, dataset: str, ids: list[str]) -> set[str]:
    """Which of `ids` are live rows of `dataset`."""
    records = await conn.fetch(
        f"SELECT id::text AS id FROM {dataset} WHERE tenant_id = $1 "  # noqa: S608
        f"AND id = ANY($2::uuid[]) AND {LIVE}",
        tenant_id,
        ids,
    )
    return {r["id"] for r in records}
