"""The Airtable fake, over real HTTP: listing and pagination, the formula subset, projections,
batch writes and their validation, errors, the per-base rate limiter and its measurements."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.airtable.fake_airtable import (
    RATE_LIMIT_BODY,
    ApiError,
    FakeAirtable,
    Field,
    iso_ms,
    parse_iso_ms,
    seed_demo,
)

BASE = "appTESTBASE000001"
TABLE = "tblORDERS0000001"
NAME = "Pre Orders"
KEY = "patTEST"
AUTH = {"Authorization": f"Bearer {KEY}"}
T0 = parse_iso_ms("2026-11-23T09:00:00.000Z")
ISO_MS_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
REC_RE = re.compile(r"rec[A-Za-z0-9]{14}")

FIELDS = [
    Field("Name", "singleLineText"),
    Field("Qty", "number"),
    Field("Due", "date"),
    Field("Status", "singleSelect", ["Draft", "Confirmed"]),
    Field("Last modified", "lastModifiedTime"),
]


class Clock:
    """A settable clock: ``ms`` for record times, ``s`` for the limiter."""

    def __init__(self) -> None:
        self.ms = T0
        self.s = 1000.0

    def now_ms(self) -> int:
        return self.ms

    def monotonic(self) -> float:
        return self.s


MakeFake = Callable[..., Awaitable[FakeAirtable]]


@pytest.fixture
async def make_fake() -> AsyncIterator[MakeFake]:
    started: list[FakeAirtable] = []

    async def make(**kwargs: Any) -> FakeAirtable:
        kwargs.setdefault("rate_per_s", 10_000)
        fake = FakeAirtable(api_key=KEY, **kwargs)
        fake.add_table(BASE, TABLE, NAME, [Field(f.name, f.type, f.options) for f in FIELDS])
        await fake.start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    fake: FakeAirtable,
    method: str,
    path: str,
    *,
    params: Any = None,
    json: Any = None,
    data: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    async with http.request(
        method,
        f"{fake.url}/v0/{path}",
        params=params,
        json=json,
        data=data,
        headers=AUTH if headers is None else headers,
    ) as resp:
        return resp.status, await resp.json()


def error_type(body: Any) -> str:
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    kind: str = body["error"]["type"]
    return kind


async def list_all(
    http: aiohttp.ClientSession,
    fake: FakeAirtable,
    params: list[tuple[str, str]],
    offset: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every record (from ``offset`` on), following offsets; also returns the raw pages."""
    records: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    while True:
        query = params + ([("offset", offset)] if offset else [])
        status, page = await call(http, fake, "GET", f"{BASE}/{TABLE}", params=query)
        assert status == 200, page
        pages.append(page)
        records += page["records"]
        offset = page.get("offset")
        if offset is None:
            return records, pages


# ---------------------------------------------------------------------- listing


async def test_pagination_of_250_records(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    fake = await make_fake()
    ids = [fake.user_create(BASE, TABLE, {"Name": f"n{i}", "Qty": i}) for i in range(250)]
    assert all(REC_RE.fullmatch(i) for i in ids)
    records, pages = await list_all(http, fake, [])
    assert [len(p["records"]) for p in pages] == [100, 100, 50]
    assert ["offset" in p for p in pages] == [True, True, False]
    assert all(isinstance(p["offset"], str) and p["offset"] for p in pages[:2])
    assert [r["id"] for r in records] == ids  # creation order, each once
    assert records[7]["fields"]["Name"] == "n7" and records[7]["fields"]["Qty"] == 7
    assert records == fake.records(BASE, TABLE)
    log = fake.request_log(BASE)
    assert [(m, s) for _, m, _, s in log] == [("GET", 200)] * 3
    assert "offset=" in log[1][2]


async def test_page_size_and_max_records(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    fake = await make_fake()
    ids = [fake.user_create(BASE, TABLE, {"Name": str(i)}) for i in range(23)]
    records, pages = await list_all(http, fake, [("pageSize", "7")])
    assert [len(p["records"]) for p in pages] == [7, 7, 7, 2]
    assert [r["id"] for r in records] == ids
    records, pages = await list_all(http, fake, [("pageSize", "10"), ("maxRecords", "15")])
    assert [len(p["records"]) for p in pages] == [10, 5]
    assert [r["id"] for r in records] == ids[:15]
    for bad in ("0", "101", "-1", "ten"):
        status, body = await call(http, fake, "GET", f"{BASE}/{TABLE}", params={"pageSize": bad})
        assert status == 422 and error_type(body) == "INVALID_REQUEST_UNKNOWN"
    status, body = await call(
        http, fake, "GET", f"{BASE}/{TABLE}", params={"sort[0][field]": "Qty"}
    )
    assert status == 422 and "not supported" in body["error"]["message"]


async def test_empty_table_and_unknown_offset(
    make_fake: MakeFake, http: aiohttp.ClientSession
) -> None:
    fake = await make_fake()
    assert await call(http, fake, "GET", f"{BASE}/{TABLE}") == (200, {"records": []})
    for token in ("itrNOPE/recNOPE", "garbage", ""):
        status, body = await call(http, fake, "GET", f"{BASE}/{TABLE}", params={"offset": token})
        assert status == 422 and error_type(body) == "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"


async def test_pagination_is_stable_while_records_change(
    make_fake: MakeFake, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    fake = await make_fake(now_ms=clock.now_ms)
    ids = [fake.user_create(BASE, TABLE, {"Name": str(i)}) for i in range(25)]
    status, first = await call(http, fake, "GET", f"{BASE}/{TABLE}", params={"pageSize": "10"})
    assert status == 200 and [r["id"] for r in first["records"]] == ids[:10]
    clock.ms += 5000
    fake.user_update(BASE, TABLE, ids[0], {"Name": "edited early"})  # already seen
    fake.user_update(BASE, TABLE, ids[20], {"Name": "edited late"})  # not yet seen
    fake.user_delete(BASE, TABLE, ids[12])
    new_id = fake.user_create(BASE, TABLE, {"Name": "new"})
    rest, pages = await list_all(http, fake, [("pageSize", "10")], first["offset"])
    assert [len(p["records"]) for p in pages] == [9, 5]  # the deleted one is skipped
    got = [r["id"] for r in first["records"] + rest]
    assert got == [i for i in ids if i != ids[12]]
    assert new_id not in got and len(set(got)) == len(got)
    late = next(r for r in rest if r["id"] == ids[20])
    assert late["fields"]["Name"] == "edited late"
    assert late["fields"]["Last modified"] == iso_ms(T0 + 5000)
    # the same offset can be replayed (a client retrying a failed page)
    again = await call(
        http, fake, "GET", f"{BASE}/{TABLE}", params={"pageSize": "10", "offset": first["offset"]}
    )
    assert again[0] == 200 and again[1]["records"][0]["id"] == ids[10]


async def test_record_shape_and_timestamps(
    make_fake: MakeFake, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    clock.ms = T0 + 7
    fake = await make_fake(now_ms=clock.now_ms)
    rid = fake.user_create(BASE, TABLE, {"Name": "A", "Qty": 0, "Due": "2026-12-01", "Status": ""})
    fake.user_create(BASE, TABLE, {"Name": ""})
    status, body = await call(http, fake, "GET", f"{BASE}/{NAME}")  # by name, URL-encoded
    assert status == 200
    first, second = body["records"]
    assert first == {
        "id": rid,
        "createdTime": "2026-11-23T09:00:00.007Z",
        "fields": {
            "Name": "A",
            "Qty": 0,
            "Due": "2026-12-01",
            "Last modified": "2026-11-23T09:00:00.007Z",
        },
    }
    assert second["fields"] == {"Last modified": "2026-11-23T09:00:00.007Z"}  # empties omitted
    assert ISO_MS_RE.fullmatch(second["createdTime"])
    assert await call(http, fake, "GET", f"{BASE}/{TABLE}/{rid}") == (200, first)
    status, missing = await call(http, fake, "GET", f"{BASE}/{TABLE}/recAAAAAAAAAAAAAA")
    assert status == 404 and error_type(missing) == "NOT_FOUND"


async def test_default_clock_is_wall_time(make_fake: MakeFake) -> None:
    fake = await make_fake()
    before = time.time_ns() // 1_000_000
    fake.user_create(BASE, TABLE, {"Name": "x"})
    (rec,) = fake.records(BASE, TABLE)
    stamp = parse_iso_ms(rec["fields"]["Last modified"])
    assert before <= stamp <= time.time_ns() // 1_000_000
    assert ISO_MS_RE.fullmatch(rec["fields"]["Last modified"])


# ---------------------------------------------------------------------- filterByFormula


async def test_filter_by_modified_time(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    clock = Clock()
    fake = await make_fake(now_ms=clock.now_ms)
    ids = []
    for i in range(5):
        clock.ms = T0 + i * 1000
        ids.append(fake.user_create(BASE, TABLE, {"Name": str(i)}))

    async def after(formula: str) -> list[str]:
        records, _ = await list_all(http, fake, [("filterByFormula", formula)])
        return [r["id"] for r in records]

    mark = iso_ms(T0 + 2000)  # record 2's modified time: strictly after excludes it
    assert await after(f"IS_AFTER(LAST_MODIFIED_TIME(), '{mark}')") == ids[3:]
    assert await after(f'is_after( {{Last modified}} , "{mark}" )') == ids[3:]
    assert await after(f"IS_AFTER(LAST_MODIFIED_TIME(), '{iso_ms(T0 + 1999)}')") == ids[2:]
    assert await after("IS_AFTER(LAST_MODIFIED_TIME(), '2026-11-23T10:00:02.5+01:00')") == ids[3:]
    assert await after("") == ids
    clock.ms = T0 + 10_000
    fake.user_update(BASE, TABLE, ids[0], {"Qty": 3})  # an edit in the UI makes it appear
    assert await after(f"IS_AFTER(LAST_MODIFIED_TIME(), '{mark}')") == [ids[0], *ids[3:]]
    assert await after(f"IS_AFTER(LAST_MODIFIED_TIME(), '{iso_ms(T0 + 10_000)}')") == []

    for bad in (
        "TRUE()",
        "IS_BEFORE(LAST_MODIFIED_TIME(), '2026-01-01')",
        "IS_AFTER({Name}, '2026-01-01')",
        "IS_AFTER({Nope}, '2026-01-01')",
        "IS_AFTER(LAST_MODIFIED_TIME(), 'yesterday')",
        "OR(IS_AFTER(LAST_MODIFIED_TIME(), '2026-01-01'), 1)",
    ):
        status, body = await call(
            http, fake, "GET", f"{BASE}/{TABLE}", params={"filterByFormula": bad}
        )
        assert status == 422 and error_type(body) == "INVALID_FILTER_BY_FORMULA", bad


async def test_fields_projection(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    fake = await make_fake()
    fake.user_create(BASE, TABLE, {"Name": "A", "Qty": 2, "Status": "Draft"})
    params = [("fields[]", "Name"), ("fields[]", "Last modified")]
    status, body = await call(http, fake, "GET", f"{BASE}/{TABLE}", params=params)
    assert status == 200 and set(body["records"][0]["fields"]) == {"Name", "Last modified"}
    status, body = await call(http, fake, "GET", f"{BASE}/{TABLE}", params={"fields[]": "Qty"})
    assert body["records"][0]["fields"] == {"Qty": 2}
    status, body = await call(http, fake, "GET", f"{BASE}/{TABLE}", params={"fields[]": "Nope"})
    assert status == 422 and error_type(body) == "UNKNOWN_FIELD_NAME"


# ---------------------------------------------------------------------- writes


async def test_batch_create_update_delete(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    clock = Clock()
    fake = await make_fake(now_ms=clock.now_ms)
    path = f"{BASE}/{TABLE}"
    ten = [{"fields": {"Name": f"r{i}", "Qty": i}} for i in range(10)]
    status, body = await call(http, fake, "POST", path, json={"records": ten})
    assert status == 200 and len(body["records"]) == 10
    ids = [r["id"] for r in body["records"]]
    assert body["records"][3]["fields"] == {"Name": "r3", "Qty": 3, "Last modified": iso_ms(T0)}
    assert [r["id"] for r in fake.records(BASE, TABLE)] == ids

    for records in ([*ten, {"fields": {}}], [], None, "x"):
        status, body = await call(http, fake, "POST", path, json={"records": records})
        assert status == 422 and error_type(body) == "INVALID_RECORDS"
    status, single = await call(http, fake, "POST", path, json={"fields": {"Name": "one"}})
    assert status == 200 and single["fields"]["Name"] == "one" and REC_RE.fullmatch(single["id"])
    ids.append(single["id"])

    clock.ms = T0 + 60_000
    patch = {
        "records": [{"id": ids[0], "fields": {"Qty": 99}}, {"id": ids[1], "fields": {"Qty": None}}]
    }
    status, body = await call(http, fake, "PATCH", path, json=patch)
    assert status == 200
    assert body["records"][0]["fields"] == {
        "Name": "r0",
        "Qty": 99,
        "Last modified": iso_ms(T0 + 60_000),
    }
    assert body["records"][1]["fields"] == {"Name": "r1", "Last modified": iso_ms(T0 + 60_000)}
    status, body = await call(
        http, fake, "PUT", path, json={"records": [{"id": ids[2], "fields": {"Qty": 5}}]}
    )
    assert status == 200 and body["records"][0]["fields"] == {
        "Qty": 5,
        "Last modified": iso_ms(T0 + 60_000),
    }
    eleven = [{"id": i, "fields": {"Qty": 1}} for i in ids]
    status, body = await call(http, fake, "PATCH", path, json={"records": eleven})
    assert status == 422 and error_type(body) == "INVALID_RECORDS"

    status, body = await call(
        http, fake, "DELETE", path, params=[("records[]", ids[3]), ("records[]", ids[4])]
    )
    assert status == 200 and body == {
        "records": [{"id": ids[3], "deleted": True}, {"id": ids[4], "deleted": True}]
    }
    assert len(fake.records(BASE, TABLE)) == 9
    status, body = await call(http, fake, "DELETE", path, params=[("records[]", i) for i in ids])
    assert status == 422 and error_type(body) == "INVALID_RECORDS"
    status, body = await call(http, fake, "DELETE", path)
    assert status == 422 and error_type(body) == "INVALID_RECORDS"


async def test_writes_are_atomic(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    clock = Clock()
    fake = await make_fake(now_ms=clock.now_ms)
    path = f"{BASE}/{TABLE}"
    a = fake.user_create(BASE, TABLE, {"Name": "a", "Qty": 1})
    before = fake.records(BASE, TABLE)
    clock.ms += 1000
    ghost = "recAAAAAAAAAAAAAA"
    patch = {"records": [{"id": a, "fields": {"Qty": 2}}, {"id": ghost, "fields": {"Qty": 3}}]}
    status, body = await call(http, fake, "PATCH", path, json=patch)
    assert status == 404 and error_type(body) == "NOT_FOUND"
    bad_value = {"records": [{"id": a, "fields": {"Qty": 2}}, {"id": a, "fields": {"Qty": "x"}}]}
    status, body = await call(http, fake, "PATCH", path, json=bad_value)
    assert status == 422 and error_type(body) == "INVALID_VALUE_FOR_COLUMN"
    status, body = await call(
        http, fake, "DELETE", path, params=[("records[]", a), ("records[]", ghost)]
    )
    assert status == 404 and error_type(body) == "NOT_FOUND"
    create = {
        "records": [{"fields": {"Name": "ok"}}, {"fields": {"Status": "Shipped"}}],
        "typecast": False,
    }
    status, body = await call(http, fake, "POST", path, json=create)
    assert status == 422 and error_type(body) == "INVALID_VALUE_FOR_COLUMN"
    # typecast in a failing batch adds no option either
    create = {
        "records": [{"fields": {"Status": "Shipped"}}, {"fields": {"Nope": 1}}],
        "typecast": True,
    }
    status, body = await call(http, fake, "POST", path, json=create)
    assert status == 422 and error_type(body) == "UNKNOWN_FIELD_NAME"
    assert fake.field_options(BASE, TABLE, "Status") == ["Draft", "Confirmed"]
    assert fake.records(BASE, TABLE) == before


async def test_field_validation(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    fake = await make_fake()
    path = f"{BASE}/{TABLE}"

    async def create(fields: dict[str, Any], typecast: bool = False) -> tuple[int, Any]:
        body = {"records": [{"fields": fields}], "typecast": typecast}
        return await call(http, fake, "POST", path, json=body)

    cases: list[tuple[dict[str, Any], str]] = [
        ({"Nope": "x"}, "UNKNOWN_FIELD_NAME"),
        ({"Last modified": "2026-01-01T00:00:00.000Z"}, "INVALID_VALUE_FOR_COLUMN"),
        ({"Last modified": None}, "INVALID_VALUE_FOR_COLUMN"),
        ({"Qty": "3"}, "INVALID_VALUE_FOR_COLUMN"),
        ({"Qty": True}, "INVALID_VALUE_FOR_COLUMN"),
        ({"Due": "23/11/2026"}, "INVALID_VALUE_FOR_COLUMN"),
        ({"Due": "2026-02-30"}, "INVALID_VALUE_FOR_COLUMN"),
        ({"Due": "2026-11-23T09:00:00.000Z"}, "INVALID_VALUE_FOR_COLUMN"),
        ({"Due": 20261123}, "INVALID_VALUE_FOR_COLUMN"),
        ({"Name": 5}, "INVALID_VALUE_FOR_COLUMN"),
        ({"Status": "Shipped"}, "INVALID_VALUE_FOR_COLUMN"),
    ]
    for fields, kind in cases:
        status, body = await create(fields)
        assert status == 422 and error_type(body) == kind, fields
    assert fake.records(BASE, TABLE) == []

    status, body = await create({"Qty": 2.5, "Due": "2026-11-23", "Status": "Draft", "Name": None})
    assert status == 200
    assert body["records"][0]["fields"]["Qty"] == 2.5
    status, body = await create({"Status": "Shipped", "Qty": "4", "Name": 7}, typecast=True)
    assert status == 200
    assert body["records"][0]["fields"] | {"Last modified": ""} == {
        "Status": "Shipped",
        "Qty": 4,
        "Name": "7",
        "Last modified": "",
    }
    assert fake.field_options(BASE, TABLE, "Status") == ["Draft", "Confirmed", "Shipped"]
    assert (await create({"Status": "Shipped"}))[0] == 200  # the option exists now

    for raw in ("{not json", "", "[1, 2]"):
        status, body = await call(
            http, fake, "POST", path, data=raw, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert status == 422 and error_type(body) == "INVALID_REQUEST_UNKNOWN", raw
    status, body = await call(http, fake, "PATCH", path, json={"records": [{"fields": {"Qty": 1}}]})
    assert status == 422 and error_type(body) == "INVALID_REQUEST_UNKNOWN"
    with pytest.raises(ApiError, match="INVALID_VALUE_FOR_COLUMN"):
        fake.user_create(BASE, TABLE, {"Qty": "x"})


async def test_modified_time_never_goes_backwards(
    make_fake: MakeFake, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    fake = await make_fake(now_ms=clock.now_ms)
    rid = fake.user_create(BASE, TABLE, {"Qty": 1})

    def modified() -> int:
        (rec,) = fake.records(BASE, TABLE)
        return parse_iso_ms(rec["fields"]["Last modified"])

    assert modified() == T0
    clock.ms = T0 + 500
    status, _ = await call(
        http,
        fake,
        "PATCH",
        f"{BASE}/{TABLE}",
        json={"records": [{"id": rid, "fields": {"Qty": 2}}]},
    )
    assert status == 200 and modified() == T0 + 500
    clock.ms = T0 - 10_000  # the clock jumps back
    fake.user_update(BASE, TABLE, rid, {"Qty": 3})
    assert modified() == T0 + 501
    fake.user_update(BASE, TABLE, rid, {"Qty": 4})  # same (frozen) clock: still strictly later
    assert modified() == T0 + 502


# ---------------------------------------------------------------------- errors


async def test_auth_and_not_found(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    fake = await make_fake()
    for headers in ({}, {"Authorization": "Bearer patWRONG"}, {"Authorization": KEY}):
        status, body = await call(http, fake, "GET", f"{BASE}/{TABLE}", headers=headers)
        assert status == 401 and error_type(body) == "AUTHENTICATION_REQUIRED"
    status, body = await call(http, fake, "GET", f"appNOPE0000000000/{TABLE}")
    assert status == 404 and error_type(body) == "NOT_FOUND"
    status, body = await call(http, fake, "GET", f"{BASE}/tblNOPE")
    assert status == 404 and error_type(body) == "TABLE_NOT_FOUND"
    status, body = await call(http, fake, "GET", f"{BASE}/Pre%2520Orders")  # a literal "%20"
    assert status == 404 and error_type(body) == "TABLE_NOT_FOUND"
    assert (await call(http, fake, "GET", f"{BASE}/Pre%20Orders"))[0] == 200
    async with http.get(f"{fake.url}/nothing", headers=AUTH) as resp:
        assert resp.status == 404
    # writes to an unknown table change nothing and are refused the same way
    status, body = await call(http, fake, "POST", f"{BASE}/Nope", json={"records": []})
    assert status == 404 and error_type(body) == "TABLE_NOT_FOUND"
    assert [s for *_, s in fake.request_log(BASE)] == [401, 401, 401, 404, 404, 200, 404]


# ---------------------------------------------------------------------- limiter and measurements


async def test_rate_limit_and_penalty_deterministic(
    make_fake: MakeFake, http: aiohttp.ClientSession
) -> None:
    clock = Clock()  # times below are exact binary fractions, so the edges are exact
    fake = await make_fake(rate_per_s=3, penalty_s=5.0, clock=clock.monotonic)
    other = "appOTHER000000001"
    fake.add_table(other, "tblX", "X", [Field("Name", "singleLineText")])
    start = clock.s

    async def hit(at: float, base: str = BASE, table: str = TABLE) -> int:
        clock.s = start + at
        return (await call(http, fake, "GET", f"{base}/{table}"))[0]

    assert [await hit(t) for t in (0.0, 0.125, 0.25)] == [200, 200, 200]
    clock.s = start + 0.375
    status, body = await call(http, fake, "GET", f"{BASE}/{TABLE}")
    assert status == 429 and body == RATE_LIMIT_BODY
    assert body == {
        "errors": [
            {
                "error": "RATE_LIMIT_REACHED",
                "message": "Rate limit exceeded. Please try again later",
            }
        ]
    }
    assert await hit(0.5, other, "tblX") == 200  # the limit is per base
    assert [await hit(t) for t in (1.5, 3.0, 5.25)] == [429, 429, 429]  # the penalty
    assert await hit(5.375) == 200  # penalty over: 0.375 + 5.0, not extended by the 429s
    assert fake.rate_limited(BASE) == 4 and fake.rate_limited(other) == 0
    assert fake.request_times(BASE) == [
        start + t for t in (0.0, 0.125, 0.25, 0.375, 1.5, 3.0, 5.25, 5.375)
    ]
    assert [s for *_, s in fake.request_log(BASE)] == [200] * 3 + [429] * 4 + [200]

    assert [await hit(t) for t in (5.5, 5.625)] == [200, 200]
    # the window is half-open: exactly 1.0 s after 5.375, that request no longer counts
    assert await hit(6.375) == 200
    # the limiter runs before auth: a 401 still uses up a slot
    clock.s = start + 6.5
    assert (await call(http, fake, "GET", f"{BASE}/{TABLE}", headers={}))[0] == 401
    assert await hit(6.5625) == 429
    assert fake.max_requests_in_window(BASE) == 4  # 5.625, 6.375, 6.5, 6.5625


async def test_rate_limit_in_real_time(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    fake = await make_fake(rate_per_s=5, penalty_s=0.5)
    statuses = [(await call(http, fake, "GET", f"{BASE}/{TABLE}"))[0] for _ in range(7)]
    assert statuses == [200] * 5 + [429, 429]
    assert fake.rate_limited(BASE) == 2
    assert fake.max_requests_in_window(BASE) == 7
    await asyncio.sleep(1.05)  # both the penalty and the 1 s window have passed
    assert (await call(http, fake, "GET", f"{BASE}/{TABLE}"))[0] == 200
    times = fake.request_times(BASE)
    assert len(times) == 8 and times == sorted(times)


async def test_fail_next(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    fake = await make_fake()
    fake.user_create(BASE, TABLE, {"Name": "a"})
    fake.fail_next(BASE, 2, status=502)
    path = f"{BASE}/{TABLE}"
    for _ in range(2):
        status, body = await call(http, fake, "POST", path, json={"fields": {"Name": "b"}})
        assert status == 502 and error_type(body) == "SERVER_ERROR"
    assert len(fake.records(BASE, TABLE)) == 1  # failed writes did nothing
    assert (await call(http, fake, "GET", path))[0] == 200
    fake.fail_next(BASE, 1)
    assert (await call(http, fake, "GET", path))[0] == 503
    assert [s for *_, s in fake.request_log(BASE)] == [502, 502, 200, 503]
    assert len(fake.request_times(BASE)) == 4


async def test_fail_next_passes_the_limiter_first(
    make_fake: MakeFake, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    fake = await make_fake(rate_per_s=2, penalty_s=10.0, clock=clock.monotonic)
    fake.fail_next(BASE, 3)
    statuses = []
    for i in range(4):
        clock.s += 0.1 * (i + 1)
        statuses.append((await call(http, fake, "GET", f"{BASE}/{TABLE}"))[0])
    assert statuses == [503, 503, 429, 429]
    clock.s += 20
    assert (await call(http, fake, "GET", f"{BASE}/{TABLE}"))[0] == 503  # the third failure


async def test_max_requests_in_window(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    clock = Clock()
    fake = await make_fake(clock=clock.monotonic)
    assert fake.max_requests_in_window(BASE) == 0
    start = clock.s
    for t in (0.0, 0.9, 1.0, 1.1, 1.2, 3.0):
        clock.s = start + t
        await call(http, fake, "GET", f"{BASE}/{TABLE}")
    assert fake.max_requests_in_window(BASE) == 4  # [0.9, 1.9)
    assert fake.max_requests_in_window(BASE, 0.25) == 3  # [1.0, 1.25)
    assert fake.max_requests_in_window(BASE, 0.1) == 1  # [1.0, 1.1) excludes 1.1
    assert fake.max_requests_in_window(BASE, 0.1000001) == 2
    assert fake.max_requests_in_window(BASE, 10) == 6
    fake.reset_measurements(BASE)
    assert fake.request_times(BASE) == [] and fake.max_requests_in_window(BASE) == 0


async def test_demo_seed(make_fake: MakeFake, http: aiohttp.ClientSession) -> None:
    fake = FakeAirtable(api_key=KEY, rate_per_s=100)
    seed_demo(fake)
    await fake.start()
    try:
        status, body = await call(http, fake, "GET", "appDEMO0000000001/Orders")
        assert status == 200 and len(body["records"]) == 4
    finally:
        await fake.close()
