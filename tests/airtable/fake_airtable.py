"""A local fake of the parts of Airtable's Web API (v0) that the bridge uses, for tests.

Airtable is not reachable from here, so this serves the same HTTP surface from an in-process
aiohttp app on a real socket (127.0.0.1, port 0 by default)::

    fake = FakeAirtable(api_key="patTEST", rate_per_s=5, penalty_s=30.0)
    fake.add_table("appBASE", "tblORDERS", "Orders", [Field("Name", "singleLineText"), ...])
    url = await fake.start()          # "http://127.0.0.1:PORT"; the API lives under url + "/v0"
    ...
    await fake.close()

Standalone, with a demo base of order lines and a 5,000-order base in the seed 002 document's
shape (``appORDERS0000001``, table ``Orders``): ``python -m tests.airtable.fake_airtable
--port 8900``.

Routes (everything else answers 404 ``{"error": "NOT_FOUND"}`` like Airtable's unknown routes):

* ``GET    /v0/{baseId}/{tableIdOrName}``: list records. Query: ``pageSize`` (1..100, default
  100), ``offset`` (an opaque ``itr.../rec...`` token from the previous page), ``maxRecords``,
  ``filterByFormula``, ``fields[]`` (repeated; ``fields`` is accepted too), ``cellFormat=json``.
  Any other parameter (``sort[...]``, ``view``, ...) is refused with 422 rather than ignored,
  so a client never silently relies on something the fake does not do.
* ``GET    /v0/{baseId}/{tableIdOrName}/{recordId}``: one record.
* ``POST   /v0/{baseId}/{tableIdOrName}``: create, ``{"records": [{"fields": {...}}], "typecast":
  bool}`` (1..10 records) or the single form ``{"fields": {...}}``.
* ``PATCH``/``PUT /v0/{baseId}/{tableIdOrName}``: update ``{"records": [{"id", "fields"}]}`` (1..10;
  PATCH merges, PUT clears the fields not given). ``performUpsert`` is not supported (422).
* ``DELETE /v0/{baseId}/{tableIdOrName}?records[]=rec1&records[]=rec2`` (1..10).

Tables are addressed by id or by (URL-encoded) name. Records list in creation order.

filterByFormula subset (anything else is 422 ``INVALID_FILTER_BY_FORMULA``):

* ``""`` (no filter);
* ``IS_AFTER(LAST_MODIFIED_TIME(), '<iso>')``;
* ``IS_AFTER({Field Name}, '<iso>')`` where the field is a ``lastModifiedTime`` field.

Function names are case-insensitive, the timestamp may be in single or double quotes, and it is
anything ``datetime.fromisoformat`` reads (``2026-11-23T09:00:00.000Z``, ``...+01:00``, a bare
date = midnight UTC; naive = UTC). Comparison is strict and at millisecond precision. The filter
is evaluated once, when the first page is asked for: the matching ids are snapshotted behind the
offset token, so pagination is stable while records change (later pages show the records'
current values, skip records deleted since, and never include records created since).

Field types: ``singleLineText``, ``number``, ``date`` (``YYYY-MM-DD``), ``dateTime`` (ISO-8601,
stored and answered in UTC with milliseconds), ``singleSelect``,
``lastModifiedTime`` (computed: the record's last modified time, ISO-8601 UTC with
milliseconds; writing it is refused). ``null`` clears a field (``""`` too, for text and select);
empty values are omitted from ``fields`` in responses, as Airtable does. Every write in a request
is validated before any is applied (atomic). Each successful write sets the record's modified
time to ``now_ms()``, but never to less than its previous modified time + 1 ms, so with a frozen
or backwards clock an edit is still strictly after the previous version.

Per request, in this order: the arrival is recorded (``request_times``, ``request_log``), then
the per-base rate limiter (penalty → 429; the ``rate_per_s``+1-th accepted request within the
last 1.0 s → 429 and a ``penalty_s`` penalty, not extended by further requests), then
``fail_next`` (a 5xx; these passed the limiter so they count in its window), then auth (401),
then base/table lookup (404), then the operation.

Error bodies (status, body):

* 401 ``{"error": {"type": "AUTHENTICATION_REQUIRED", "message": ...}}``
* 404 ``{"error": {"type": "NOT_FOUND", "message": ...}}`` (unknown base or record id);
  ``{"error": {"type": "TABLE_NOT_FOUND", "message": ...}}`` (unknown table)
* 422 ``{"error": {"type": T, "message": ...}}`` with T one of ``INVALID_REQUEST_UNKNOWN``,
  ``INVALID_RECORDS``, ``UNKNOWN_FIELD_NAME``, ``INVALID_VALUE_FOR_COLUMN``,
  ``INVALID_FILTER_BY_FORMULA``, ``LIST_RECORDS_ITERATOR_NOT_AVAILABLE``
* 429 ``{"errors": [{"error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try
  again later"}]}``
* 5xx (``fail_next``) ``{"error": {"type": "SERVER_ERROR", "message": ...}}``

Known differences from the real service: real Airtable answers an unknown base or table for a
personal access token with 403 ``INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND``, a singleSelect value
outside the options with ``INVALID_MULTIPLE_CHOICE_OPTIONS``, and a batch update of a missing
record id with 422 ``ROW_DOES_NOT_EXIST``; this fake follows the contract given to the bridge
(404 / ``INVALID_VALUE_FOR_COLUMN`` / 404) instead. No per-token 50 req/s limit, no field ids,
no views, sorting, attachments, links or formula fields.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import string
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from aiohttp import web

FIELD_TYPES = (
    "singleLineText",
    "number",
    "date",
    "dateTime",
    "singleSelect",
    "lastModifiedTime",
)
MAX_PAGE_SIZE = 100
MAX_BATCH = 10
RATE_LIMIT_BODY: dict[str, Any] = {
    "errors": [
        {"error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later"}
    ]
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALNUM = string.ascii_letters + string.digits
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORMULA_RE = re.compile(
    r"""\s*IS_AFTER\s*\(\s*
        (?: (?P<fn>LAST_MODIFIED_TIME\s*\(\s*\)) | \{(?P<field>[^{}]+)\} )
        \s*,\s*
        (?: '(?P<sq>[^']*)' | "(?P<dq>[^"]*)" )
        \s*\)\s*""",
    re.IGNORECASE | re.VERBOSE,
)


@dataclass
class Field:
    name: str
    type: str
    options: list[str] | None = None


class ApiError(Exception):
    """An Airtable-shaped error response."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(f"{status} {type_}: {message}")
        self.status = status
        self.type = type_
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message}}


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as Airtable writes timestamps: ``2026-11-23T09:00:00.000Z``."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso_ms(text: str) -> int:
    """Epoch milliseconds (floored) of an ISO-8601 timestamp or date; naive means UTC."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(14))


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Record:
    id: str
    created_ms: int
    modified_ms: int
    values: dict[str, Any] = field(default_factory=dict)  # only non-empty, non-computed values


@dataclass
class _Table:
    id: str
    name: str
    fields: dict[str, Field]
    records: dict[str, _Record] = field(default_factory=dict)  # insertion = creation order


@dataclass
class _Iterator:
    table_id: str
    ids: list[str]


@dataclass
class _Base:
    id: str
    tables: dict[str, _Table] = field(default_factory=dict)
    iterators: dict[str, _Iterator] = field(default_factory=dict)


@dataclass
class _Traffic:
    """What arrived at one base id, and its rate-limiter state."""

    times: list[float] = field(default_factory=list)
    log: list[tuple[float, str, str, int]] = field(default_factory=list)
    accepted: deque[float] = field(default_factory=deque)
    penalty_until: float = float("-inf")
    rate_limited: int = 0
    fail_count: int = 0
    fail_status: int = 503


class FakeAirtable:
    def __init__(
        self,
        *,
        api_key: str = "patTEST",
        rate_per_s: int = 5,
        penalty_s: float = 30.0,
        now_ms: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_key = api_key
        self.rate_per_s = rate_per_s
        self.penalty_s = penalty_s
        self.now_ms: Callable[[], int] = now_ms if now_ms is not None else _wall_ms
        self.clock = clock  # limiter and measurement time (monotonic seconds)
        self._bases: dict[str, _Base] = {}
        self._traffic: dict[str, _Traffic] = {}
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    # ------------------------------------------------------------------ setup and lifecycle

    def add_table(self, base_id: str, table_id: str, name: str, fields: list[Field]) -> None:
        for f in fields:
            if f.type not in FIELD_TYPES:
                raise ValueError(f"unsupported field type {f.type!r} for {f.name!r}")
            if f.type == "singleSelect":
                f.options = list(f.options or [])
        if len({f.name for f in fields}) != len(fields):
            raise ValueError("duplicate field names")
        base = self._bases.setdefault(base_id, _Base(base_id))
        if table_id in base.tables or any(t.name == name for t in base.tables.values()):
            raise ValueError(f"table {table_id!r} / {name!r} already exists in {base_id}")
        base.tables[table_id] = _Table(table_id, name, {f.name: f for f in fields})

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a real socket; returns the base URL (the API is under ``/v0``)."""
        if self._runner is not None:
            raise RuntimeError("already started")
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ test-side helpers

    def user_create(self, base_id: str, table: str, fields: dict[str, Any]) -> str:
        """Create a record as a person in the Airtable UI would (no API request, no limit)."""
        tbl = self._table_or_raise(base_id, table)
        values = self._validate_fields(tbl, fields, typecast=False, pending={})
        return self._insert(tbl, values).id

    def user_update(self, base_id: str, table: str, record_id: str, fields: dict[str, Any]) -> None:
        """Edit a record as a person in the Airtable UI would: bumps its modified time."""
        tbl = self._table_or_raise(base_id, table)
        rec = tbl.records[record_id]
        values = self._validate_fields(tbl, fields, typecast=False, pending={})
        self._apply(rec, values, replace=False)

    def user_delete(self, base_id: str, table: str, record_id: str) -> None:
        tbl = self._table_or_raise(base_id, table)
        del tbl.records[record_id]

    def records(self, base_id: str, table: str) -> list[dict[str, Any]]:
        """Every record of a table, as the API would return it, in creation order."""
        tbl = self._table_or_raise(base_id, table)
        return [self._render(tbl, rec, None) for rec in tbl.records.values()]

    def field_options(self, base_id: str, table: str, field_name: str) -> list[str]:
        """The current options of a singleSelect field (typecast may have added some)."""
        return list(self._table_or_raise(base_id, table).fields[field_name].options or [])

    def fail_next(self, base_id: str, count: int, status: int = 503) -> None:
        """The next ``count`` API requests to that base (that pass the rate limiter) get
        ``status`` with a ``SERVER_ERROR`` body."""
        if not 500 <= status <= 599:
            raise ValueError("fail_next is for 5xx statuses")
        traffic = self._traffic_for(base_id)
        traffic.fail_count = count
        traffic.fail_status = status

    # ------------------------------------------------------------------ measurements

    def request_times(self, base_id: str) -> list[float]:
        """Monotonic arrival time of every API request to that base, rejected ones included."""
        return list(self._traffic_for(base_id).times)

    def max_requests_in_window(self, base_id: str, window_s: float = 1.0) -> int:
        """Most API requests that arrived in any half-open window ``[t, t + window_s)``."""
        times = sorted(self._traffic_for(base_id).times)
        best = 0
        end = 0
        for start, t in enumerate(times):
            end = max(end, start)
            while end < len(times) and times[end] < t + window_s:
                end += 1
            best = max(best, end - start)
        return best

    def rate_limited(self, base_id: str) -> int:
        """How many 429s that base returned."""
        return self._traffic_for(base_id).rate_limited

    def request_log(self, base_id: str) -> list[tuple[float, str, str, int]]:
        """``(arrival time, method, raw path and query as sent, status)`` per API request."""
        return list(self._traffic_for(base_id).log)

    def reset_measurements(self, base_id: str) -> None:
        """Forget the recorded traffic of a base (the limiter state is kept)."""
        traffic = self._traffic_for(base_id)
        traffic.times.clear()
        traffic.log.clear()
        traffic.rate_limited = 0

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = self.clock()
        raw_path = request.rel_url.raw_path
        segments = [unquote(s) for s in raw_path.strip("/").split("/")] if raw_path else []
        if len(segments) < 2 or segments[0] != "v0" or not segments[1]:
            return _json(404, {"error": "NOT_FOUND"})
        base_id = segments[1]
        traffic = self._traffic_for(base_id)
        traffic.times.append(arrived)
        try:
            response = await self._dispatch(request, arrived, traffic, base_id, segments[2:])
        except ApiError as err:
            response = _json(err.status, err.body())
        traffic.log.append((arrived, request.method, request.rel_url.raw_path_qs, response.status))
        return response

    async def _dispatch(
        self,
        request: web.Request,
        arrived: float,
        traffic: _Traffic,
        base_id: str,
        rest: list[str],
    ) -> web.Response:
        if self._rate_limit(traffic, arrived):
            traffic.rate_limited += 1
            return _json(429, RATE_LIMIT_BODY)
        if traffic.fail_count > 0:
            traffic.fail_count -= 1
            status = traffic.fail_status
            raise ApiError(status, "SERVER_ERROR", f"Injected server error ({status})")
        if request.headers.get("Authorization", "") != f"Bearer {self.api_key}":
            message = (
                "Invalid authentication token"
                if "Authorization" in request.headers
                else "Authentication required"
            )
            raise ApiError(401, "AUTHENTICATION_REQUIRED", message)
        base = self._bases.get(base_id)
        if base is None:
            raise ApiError(404, "NOT_FOUND", "Could not find what you are looking for")
        if not rest or not rest[0] or len(rest) > 2:
            return _json(404, {"error": "NOT_FOUND"})
        tbl = self._find_table(base, rest[0])
        if tbl is None:
            raise ApiError(
                404, "TABLE_NOT_FOUND", f"Could not find table {rest[0]} in application {base_id}"
            )
        method = request.method
        if len(rest) == 2:
            if method != "GET":
                return _json(404, {"error": "NOT_FOUND"})
            rec = tbl.records.get(rest[1])
            if rec is None:
                raise ApiError(404, "NOT_FOUND", f"Record {rest[1]} not found")
            return _json(200, self._render(tbl, rec, None))
        if method == "GET":
            return _json(200, self._list(base, tbl, request))
        if method == "POST":
            return _json(200, self._create(tbl, await _read_json(request)))
        if method in ("PATCH", "PUT"):
            return _json(200, self._update(tbl, await _read_json(request), method == "PUT"))
        if method == "DELETE":
            return _json(200, self._delete(tbl, request))
        return _json(404, {"error": "NOT_FOUND"})

    def _rate_limit(self, traffic: _Traffic, now: float) -> bool:
        """True when this request must get a 429."""
        if now < traffic.penalty_until:
            return True
        window = traffic.accepted
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.rate_per_s:
            traffic.penalty_until = now + self.penalty_s
            return True
        window.append(now)
        return False

    # ------------------------------------------------------------------ operations

    def _list(self, base: _Base, tbl: _Table, request: web.Request) -> dict[str, Any]:
        query = request.rel_url.query
        allowed = {"pageSize", "offset", "maxRecords", "filterByFormula", "fields[]", "fields"}
        for key in query:
            if key == "cellFormat" and query.getall(key) == ["json"]:
                continue
            if key not in allowed:
                raise ApiError(
                    422,
                    "INVALID_REQUEST_UNKNOWN",
                    f"Invalid request: parameter {key!r} is not supported by the fake",
                )
        page_size = _int_param(query.get("pageSize"), "pageSize", 1, MAX_PAGE_SIZE) or 100
        projection: list[str] | None = None
        if "fields[]" in query or "fields" in query:
            projection = query.getall("fields[]", []) + query.getall("fields", [])
            unknown = [name for name in projection if name not in tbl.fields]
            if unknown:
                raise ApiError(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{unknown[0]}"')
        offset = query.get("offset")
        if offset is None:
            predicate = self._parse_formula(tbl, query.get("filterByFormula", ""))
            ids = [rec.id for rec in tbl.records.values() if predicate(rec)]
            max_records = _int_param(query.get("maxRecords"), "maxRecords", 1, None)
            if max_records is not None:
                ids = ids[:max_records]
            iterator_id = _new_id("itr")
            iterator = _Iterator(tbl.id, ids)
            base.iterators[iterator_id] = iterator
            position = 0
        else:
            iterator_id, _, next_id = offset.partition("/")
            found = base.iterators.get(iterator_id)
            if found is None or found.table_id != tbl.id or next_id not in found.ids:
                raise ApiError(
                    422,
                    "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                    "The requested iterator is not available; restart the listing",
                )
            iterator = found
            position = iterator.ids.index(next_id)
        page_ids = iterator.ids[position : position + page_size]
        records = [
            self._render(tbl, tbl.records[rid], projection)
            for rid in page_ids
            if rid in tbl.records
        ]
        out: dict[str, Any] = {"records": records}
        following = position + page_size
        if following < len(iterator.ids):
            out["offset"] = f"{iterator_id}/{iterator.ids[following]}"
        return out

    def _create(self, tbl: _Table, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _bad_request("the body must be a JSON object")
        _only_keys(body, {"records", "fields", "typecast", "returnFieldsByFieldId"})
        typecast = _typecast(body)
        single = "records" not in body
        if single:
            if "fields" not in body:
                raise _bad_request('missing "records" (or "fields")')
            items: Any = [{"fields": body["fields"]}]
        else:
            if "fields" in body:
                raise _bad_request('give either "records" or "fields", not both')
            items = body["records"]
        _check_batch(items)
        pending: dict[str, list[str]] = {}
        prepared: list[dict[str, Any]] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("fields"), dict):
                raise _bad_request('each record must be an object with a "fields" object')
            _only_keys(item, {"fields"})
            prepared.append(self._validate_fields(tbl, item["fields"], typecast, pending))
        _commit_options(tbl, pending)
        created = [self._render(tbl, self._insert(tbl, values), None) for values in prepared]
        return created[0] if single else {"records": created}

    def _update(self, tbl: _Table, body: Any, replace: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _bad_request("the body must be a JSON object")
        if "performUpsert" in body:
            raise _bad_request("performUpsert is not supported by the fake")
        _only_keys(body, {"records", "typecast", "returnFieldsByFieldId"})
        typecast = _typecast(body)
        items: Any = body.get("records")
        _check_batch(items)
        pending: dict[str, list[str]] = {}
        prepared: list[tuple[_Record, dict[str, Any]]] = []
        for item in items:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("id"), str)
                or not isinstance(item.get("fields"), dict)
            ):
                raise _bad_request('each record must be an object with an "id" and "fields"')
            _only_keys(item, {"id", "fields"})
            rec = tbl.records.get(item["id"])
            if rec is None:
                raise ApiError(404, "NOT_FOUND", f"Record {item['id']} not found")
            prepared.append((rec, self._validate_fields(tbl, item["fields"], typecast, pending)))
        _commit_options(tbl, pending)
        for rec, values in prepared:
            self._apply(rec, values, replace)
        return {"records": [self._render(tbl, rec, None) for rec, _ in prepared]}

    def _delete(self, tbl: _Table, request: web.Request) -> dict[str, Any]:
        query = request.rel_url.query
        ids = query.getall("records[]", []) + query.getall("records", [])
        _check_batch(ids)
        for rid in ids:
            if rid not in tbl.records:
                raise ApiError(404, "NOT_FOUND", f"Record {rid} not found")
        for rid in ids:
            tbl.records.pop(rid, None)
        return {"records": [{"id": rid, "deleted": True} for rid in ids]}

    # ------------------------------------------------------------------ records and fields

    def _insert(self, tbl: _Table, values: dict[str, Any]) -> _Record:
        now = self.now_ms()
        rec = _Record(_new_id("rec"), now, now)
        while rec.id in tbl.records:
            rec.id = _new_id("rec")
        rec.values = {k: v for k, v in values.items() if v is not None}
        tbl.records[rec.id] = rec
        return rec

    def _apply(self, rec: _Record, values: dict[str, Any], replace: bool) -> None:
        if replace:
            rec.values.clear()
        for name, value in values.items():
            if value is None:
                rec.values.pop(name, None)
            else:
                rec.values[name] = value
        rec.modified_ms = max(self.now_ms(), rec.modified_ms + 1)

    def _render(self, tbl: _Table, rec: _Record, projection: list[str] | None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, f in tbl.fields.items():
            if projection is not None and name not in projection:
                continue
            if f.type == "lastModifiedTime":
                fields[name] = iso_ms(rec.modified_ms)
            elif name in rec.values:
                fields[name] = rec.values[name]
        return {"id": rec.id, "createdTime": iso_ms(rec.created_ms), "fields": fields}

    def _validate_fields(
        self,
        tbl: _Table,
        given: dict[str, Any],
        typecast: bool,
        pending: dict[str, list[str]],
    ) -> dict[str, Any]:
        """The stored form of ``given`` (``None`` = clear), or an ApiError; changes nothing
        except noting new select options (for typecast) in ``pending``."""
        out: dict[str, Any] = {}
        for name, value in given.items():
            f = tbl.fields.get(name)
            if f is None:
                raise ApiError(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')
            out[name] = _coerce(f, value, typecast, pending)
        return out

    def _table_or_raise(self, base_id: str, table: str) -> _Table:
        tbl = self._find_table(self._bases[base_id], table)
        if tbl is None:
            raise KeyError(f"no table {table!r} in {base_id}")
        return tbl

    @staticmethod
    def _find_table(base: _Base, id_or_name: str) -> _Table | None:
        if id_or_name in base.tables:
            return base.tables[id_or_name]
        return next((t for t in base.tables.values() if t.name == id_or_name), None)

    def _parse_formula(self, tbl: _Table, formula: str) -> Callable[[_Record], bool]:
        if not formula.strip():
            return lambda rec: True
        match = _FORMULA_RE.fullmatch(formula)
        if match is None:
            raise _bad_formula(formula, "only IS_AFTER(LAST_MODIFIED_TIME(), '<iso>') is supported")
        name = match.group("field")
        if name is not None:
            f = tbl.fields.get(name)
            if f is None:
                raise _bad_formula(formula, f"Unknown field names: {name.lower()}")
            if f.type != "lastModifiedTime":
                raise _bad_formula(
                    formula, f"the fake only compares lastModifiedTime fields, not {name}"
                )
        stamp = match.group("sq") if match.group("sq") is not None else match.group("dq")
        try:
            after_ms = parse_iso_ms(stamp)
        except ValueError:
            raise _bad_formula(formula, f"cannot parse the timestamp {stamp!r}") from None
        return lambda rec: rec.modified_ms > after_ms

    def _traffic_for(self, base_id: str) -> _Traffic:
        return self._traffic.setdefault(base_id, _Traffic())


# ---------------------------------------------------------------------- helpers


def _json(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status)


def _bad_request(detail: str) -> ApiError:
    return ApiError(422, "INVALID_REQUEST_UNKNOWN", f"Invalid request: {detail}")


def _bad_formula(formula: str, detail: str) -> ApiError:
    return ApiError(
        422,
        "INVALID_FILTER_BY_FORMULA",
        f"The formula for filtering records is invalid: {detail} (got {formula!r})",
    )


async def _read_json(request: web.Request) -> Any:
    text = await request.text()
    try:
        return json.loads(text)
    except ValueError:
        raise _bad_request("the body could not be parsed as JSON") from None


def _only_keys(obj: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise _bad_request(f"unknown key {extra[0]!r}")


def _typecast(body: dict[str, Any]) -> bool:
    value = body.get("typecast", False)
    if not isinstance(value, bool):
        raise _bad_request('"typecast" must be a boolean')
    if body.get("returnFieldsByFieldId", False) is not False:
        raise _bad_request("returnFieldsByFieldId is not supported by the fake")
    return value


def _check_batch(items: Any) -> None:
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        count = len(items) if isinstance(items, list) else "no"
        raise ApiError(
            422,
            "INVALID_RECORDS",
            f"You must provide an array of up to {MAX_BATCH} record objects (got {count})",
        )


def _int_param(raw: str | None, name: str, low: int, high: int | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise _bad_request(f"{name} must be an integer in [{low}, {high or 'inf'}], got {raw!r}")
    return value


def _commit_options(tbl: _Table, pending: dict[str, list[str]]) -> None:
    for name, added in pending.items():
        options = tbl.fields[name].options
        assert options is not None
        options.extend(o for o in added if o not in options)


def _invalid(f: Field, value: Any) -> ApiError:
    return ApiError(
        422,
        "INVALID_VALUE_FOR_COLUMN",
        f'Field "{f.name}" cannot accept the provided value: {json.dumps(value)}',
    )


def _coerce(f: Field, value: Any, typecast: bool, pending: dict[str, list[str]]) -> Any:
    if f.type == "lastModifiedTime":
        raise ApiError(
            422,
            "INVALID_VALUE_FOR_COLUMN",
            f'Field "{f.name}" cannot accept a value because the field is computed',
        )
    if value is None:
        return None
    if f.type == "number":
        if isinstance(value, bool):
            raise _invalid(f, value)
        if isinstance(value, int | float):
            return value
        if typecast and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise _invalid(f, value) from None
            return int(number) if number.is_integer() else number
        raise _invalid(f, value)
    if f.type == "dateTime":
        if not isinstance(value, str):
            raise _invalid(f, value)
        try:
            return iso_ms(parse_iso_ms(value))
        except ValueError:
            raise _invalid(f, value) from None
    if f.type == "date":
        if isinstance(value, str) and _DATE_RE.fullmatch(value):
            try:
                date.fromisoformat(value)
            except ValueError:
                raise _invalid(f, value) from None
            return value
        raise _invalid(f, value)
    if f.type == "singleLineText":
        if typecast and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or "\n" in value:
            raise _invalid(f, value)
        return value or None
    # singleSelect
    if typecast and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _invalid(f, value)
    if value == "":
        return None
    options = f.options or []
    if value not in options:
        if not typecast:
            raise ApiError(
                422,
                "INVALID_VALUE_FOR_COLUMN",
                f'Insufficient permissions to create new select option ""{value}"" '
                f'in field "{f.name}" (use typecast)',
            )
        added = pending.setdefault(f.name, [])
        if value not in added:
            added.append(value)
    return value


# ---------------------------------------------------------------------- standalone

DEMO_BASE = "appDEMO0000000001"
DEMO_TABLE = "tblORDERS0000001"


def order_line_fields() -> list[Field]:
    """A table in the shape the bridge's default field map expects (one record per order
    line); fresh objects each call, since typecast may add select options to a table."""
    return [
        Field("Order", "singleLineText"),
        Field("Partner", "singleLineText"),
        Field("Delivery date", "date"),
        Field("Status", "singleSelect", ["pending", "confirmed"]),
        Field("Product", "singleLineText"),
        Field("Quantity", "number"),
        Field("Last modified", "lastModifiedTime"),
    ]


ORDER_STATUSES = ["Pending", "Processing", "Shipped", "Delivered", "Cancelled"]
PRIORITIES = ["Low", "Medium", "High"]


def orders_fields() -> list[Field]:
    """A table in the seed 002 document's shape: one record per order."""
    return [
        Field("Order ID", "singleLineText"),
        Field("Customer", "singleLineText"),
        Field("Status", "singleSelect", list(ORDER_STATUSES)),
        Field("Order Total", "number"),
        Field("Created At", "dateTime"),
        Field("Updated At", "dateTime"),
        Field("Priority", "singleSelect", list(PRIORITIES)),
    ]


def seed_orders(
    fake: FakeAirtable,
    base_id: str,
    table_id: str = "tblORDERS",
    name: str = "Orders",
    count: int = 5_000,
    seed: int = 2,
    now_ms: int | None = None,
) -> None:
    """An `Orders` table of `count` orders in the document's shape, the same for the same
    seed: statuses, priorities, 180 customers, totals from 5.00 to 2,500.00 (two
    decimals), created over the last 60 days (before `now_ms`), updated since."""
    import random

    rng = random.Random(seed)
    now = now_ms if now_ms is not None else _wall_ms()
    fake.add_table(base_id, table_id, name, orders_fields())
    span = 60 * 86_400_000
    for i in range(count):
        created = now - rng.randrange(span)
        updated = min(now - 1, created + rng.randrange(5 * 86_400_000))
        fake.user_create(
            base_id,
            name,
            {
                "Order ID": f"ORD-{i + 1:05d}",
                "Customer": f"Customer {rng.randrange(180):03d}",
                "Status": rng.choices(ORDER_STATUSES, weights=[3, 3, 2, 5, 1])[0],
                "Order Total": rng.randrange(500, 250_001) / 100,
                "Created At": iso_ms(created),
                "Updated At": iso_ms(updated),
                "Priority": rng.choices(PRIORITIES, weights=[4, 4, 2])[0],
            },
        )


def seed_demo(fake: FakeAirtable) -> None:
    """A small demo base: ``appDEMO0000000001`` with an "Orders" table of order lines, in the
    shape the bridge's default field map expects."""
    fake.add_table(DEMO_BASE, DEMO_TABLE, "Orders", order_line_fields())
    lines = [
        ("AT-1", "Bakery Lenz", "Flour 25 kg", 2),
        ("AT-1", "Bakery Lenz", "Yeast 500 g", 6),
        ("AT-2", "Café Nord", "Espresso beans", 3),
        ("AT-3", "Hotel Ost", "Jam", 4),
    ]
    for i, (order, partner, product, quantity) in enumerate(lines):
        fake.user_create(
            DEMO_BASE,
            "Orders",
            {
                "Order": order,
                "Partner": partner,
                "Product": product,
                "Quantity": quantity,
                "Delivery date": f"2026-12-0{i + 1}",
                "Status": "pending",
            },
        )


ORDERS_BASE = "appORDERS0000001"


async def _serve(
    host: str, port: int, api_key: str, rate_per_s: int, penalty_s: float, orders: int
) -> None:
    fake = FakeAirtable(api_key=api_key, rate_per_s=rate_per_s, penalty_s=penalty_s)
    seed_demo(fake)
    if orders:
        seed_orders(fake, ORDERS_BASE, count=orders)
    url = await fake.start(host, port)
    print(f"fake Airtable on {url}/v0  key={api_key}  base={DEMO_BASE} table=Orders", flush=True)
    if orders:
        print(f"  and {orders} orders (seed 002's shape): base={ORDERS_BASE} table=Orders")
    try:
        await asyncio.Event().wait()
    finally:
        await fake.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--api-key", default="patTEST")
    parser.add_argument("--rate-per-s", type=int, default=5)
    parser.add_argument("--penalty-s", type=float, default=30.0)
    parser.add_argument(
        "--orders", type=int, default=5_000, help="orders in the seed 002 base (0: none)"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _serve(args.host, args.port, args.api_key, args.rate_per_s, args.penalty_s, args.orders)
        )


if __name__ == "__main__":
    main()
