"""Every error path of the sync server answers the right status with `{"code", "message"}`
JSON, and changes nothing: the content of every table and the merkle root are compared
before and after each refused request."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from crdt.message import Message
from crdt.timestamp import iso_millis
from recap_client import ClientReplica, SyncClient
from tests.conftest import MakeServer, MakeTenant, Running, Tenant

# -- helpers --------------------------------------------------------------------------------


def new_row() -> str:
    return str(uuid.uuid4())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Answer:
    status: int
    body: Any
    content_type: str


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None = None,
    payload: object = None,
    raw: bytes | None = None,
) -> Answer:
    headers = bearer(token) if token else {}
    data = raw if raw is not None else (dumps(payload) if payload is not None else None)
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with http.request(method, url, data=data, headers=headers) as resp:
        text = await resp.read()
        try:
            body = orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            body = text.decode(errors="replace")
        return Answer(resp.status, body, resp.content_type)


def dumps(payload: object) -> bytes:
    """JSON as a client may send it: the standard library also writes integers past 64
    bits (orjson refuses them), so the server's handling of those is tested too."""
    return json.dumps(payload).encode()


def assert_error(
    answer: Answer, status: int, code: str | None = None, case: object = None
) -> dict[str, Any]:
    """The answer is an error of this status, as `{"code": str, "message": str, ...}`."""
    assert answer.status == status, (case, answer.status, answer.body)
    assert answer.content_type == "application/json", case
    body = answer.body
    assert isinstance(body, dict), (case, body)
    assert isinstance(body.get("code"), str) and body["code"], (case, body)
    assert isinstance(body.get("message"), str) and body["message"], (case, body)
    if code is not None:
        assert body["code"] == code, (case, body)
    return body


# Tables compared by content; any other table (REST idempotency keys, the outbox of
# business events whose delivery columns a background relay updates, ...) by row count.
CONTENT_TABLES = (
    "tenants",
    "users",
    "messages",
    "merkle_nodes",
    "conflicts",
    "partners",
    "products",
    "pre_orders",
    "pre_order_flows",
    "profiles",
)


class Db:
    """A fingerprint of the whole database: every table's row count, the content of the
    tables the sync path writes (in a stable order), and each tenant's merkle root. `nodes`
    is compared without `last_seen`, which any authenticated sync touches."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def fingerprint(self) -> dict[str, Any]:
        tables = [
            r["tablename"]
            for r in await self.conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT LIKE '%yoyo%' ORDER BY tablename"
            )
        ]
        out: dict[str, Any] = {}
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            if table == "nodes":
                sql = (
                    "SELECT count(*) AS n, md5(coalesce(string_agg("
                    "tenant_id::text || node || user_id::text, ',' ORDER BY node), '')) AS d "
                    "FROM nodes"
                )
            elif table in CONTENT_TABLES:
                sql = (
                    "SELECT count(*) AS n, md5(coalesce(string_agg(t::text, ',' "  # noqa: S608
                    f"ORDER BY t::text), '')) AS d FROM {quoted} AS t"
                )
            else:
                sql = f"SELECT count(*) AS n, '' AS d FROM {quoted}"  # noqa: S608
            row = await self.conn.fetchrow(sql)
            assert row is not None
            out[table] = (row["n"], row["d"])
        roots = await self.conn.fetch(
            "SELECT tenant_id::text AS t, hash, count FROM merkle_nodes WHERE path = '' "
            "ORDER BY tenant_id"
        )
        out["merkle_roots"] = [(r["t"], r["hash"], r["count"]) for r in roots]
        return out

    async def count(self, table: str) -> int:
        n = await self.conn.fetchval(f'SELECT count(*) FROM "{table}"')  # noqa: S608
        return int(n)


@pytest.fixture
async def db(server: Running) -> AsyncIterator[Db]:
    conn = await asyncpg.connect(server.db_url)
    try:
        yield Db(conn)
    finally:
        await conn.close()


@dataclass
class World:
    """A tenant with some history, a writer replica with a registered node, and helpers."""

    server: Running
    http: aiohttp.ClientSession
    tenant: Tenant
    make_tenant: MakeTenant
    writer: ClientReplica
    db: Db

    @property
    def token(self) -> str:
        return self.tenant.token("alice")

    def fresh(self, n: int = 1) -> list[Message]:
        """`n` valid, not yet sent edits (dropped from the outbox: we send them by hand)."""
        out = [
            self.writer.edit_field("pre_order_flows", new_row(), "quantity", i) for i in range(n)
        ]
        self.writer.outbox.clear()
        return out

    async def sync(self, payload: object = None, raw: bytes | None = None) -> Answer:
        return await call(self.http, "POST", self.server.url + "/sync", self.token, payload, raw)

    async def refused(
        self,
        case: object,
        status: int,
        code: str | None = None,
        payload: object = None,
        raw: bytes | None = None,
        method: str = "POST",
        path: str = "/sync",
        token: str | None = "",
    ) -> dict[str, Any]:
        """Send, check the error, and check the database did not change."""
        before = await self.db.fingerprint()
        answer = await call(
            self.http,
            method,
            self.server.url + path,
            self.token if token == "" else token,
            payload,
            raw,
        )
        body = assert_error(answer, status, code, case)
        assert await self.db.fingerprint() == before, f"{case!r} changed the database"
        return body


@pytest.fixture
async def world(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant, db: Db
) -> World:
    tenant = await make_tenant("Acme", reps=("alice", "bob"), admins=("carla",))
    seeder = SyncClient(server.url, ClientReplica(), http, tenant.token("bob"))
    for i in range(5):
        seeder.replica.edit_row(
            "pre_order_flows", new_row(), {"quantity": i, "weight": 1.5, "tombstone": 0}
        )
    await seeder.sync()
    writer = ClientReplica()
    w = World(server, http, tenant, make_tenant, writer, db)
    answer = await w.sync({"node": writer.node})  # registers the writer's node for alice
    assert answer.status == 200
    return w


DROP = object()


def with_(message: Message, **changes: Any) -> dict[str, Any]:
    data = message.to_json()
    for key, value in changes.items():
        if value is DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return data


# -- body and shape --------------------------------------------------------------------------

NOT_JSON = {
    "empty": b"",
    "garbage": b"{not json",
    "truncated": b'{"node": "0123456789abcdef", "messages": [',
    "bad-utf8": b'{"node": "\xff\xfe"}',
    "lone-surrogate": b'{"node": "\\ud800"}',
    "nan": b'{"node": "0123456789abcdef", "conflicts_after": NaN}',
    "infinity": b'{"node": "0123456789abcdef", "conflicts_after": 1e400}',
    "nested-past-the-depth-limit": b"[" * 5000 + b"]" * 5000,
}


async def test_a_body_that_is_not_json_is_400(world: World) -> None:
    for case, raw in NOT_JSON.items():
        await world.refused(case, 400, "bad_request", raw=raw)
    # /auth/login reads its body the same way.
    await world.refused("login", 400, "bad_request", raw=b"{", path="/auth/login", token=None)


N = "0123456789abcdef"
WRONG_SHAPES: list[object] = [
    [],
    "sync",
    42,
    {},
    {"messages": []},
    {"node": N, "surprise": 1},
    {"node": N, "messages": {}},
    {"node": N, "messages": "[]"},
    {"node": N, "summary": []},
    {"node": N, "summary": {"scopes": [""]}},
    {"node": N, "summary": {"scopes": ["3"], "nodes": []}},
    {"node": N, "summary": {"scopes": [""], "nodes": [["", 1]]}},
    {"node": N, "summary": {"scopes": [""], "nodes": [["x", 1, 1]]}},
    {"node": N, "summary": {"scopes": [""], "nodes": [["", "h", 1]]}},
    {"node": N, "summary": {"scopes": [""], "nodes": [], "x": 1}},
    {"node": N, "summary": {"scopes": ["0" * 17], "nodes": []}},
    {"node": N, "summary": {"scopes": [""] * 5001, "nodes": []}},
    # Overlapping ranges: repeated scopes made one request cost minutes of CPU.
    {"node": N, "summary": {"scopes": [""] * 100, "nodes": []}},
    {"node": N, "summary": {"scopes": ["01", "0", "012"], "nodes": []}},
    {"node": N, "summary": {"scopes": [""], "nodes": [["01", 1, 1], ["01", 1, 1]]}},
    {"node": N, "summary": {"scopes": [""], "nodes": [["0", 2, 2], ["0120", 1, 1]]}},
    {"node": N, "cursor": 5},
    {"node": N, "conflicts_after": -1},
    {"node": N, "conflicts_after": 2**63},  # past bigint: was a 500
    {"node": N, "conflicts_after": 2**70},
    {"node": N, "conflicts_after": [1]},
]


async def test_unknown_keys_and_wrong_types_are_422(world: World) -> None:
    await world.refused("null", 422, "invalid", raw=b"null")
    for payload in WRONG_SHAPES:
        await world.refused(payload, 422, "invalid", payload=payload)


async def test_summaries_of_real_multi_round_syncs_are_accepted(world: World) -> None:
    """The overlap checks refuse nothing a real client sends: a replica missing every other
    message of ten hours of history needs descents, and converges."""
    writer = ClientReplica()
    start = (int(time.time()) // 60 - 600) * 60_000
    stamps = [f"{iso_millis(start + i * 7_013)}-0000-{writer.node}" for i in range(800)]
    history = [
        Message("pre_order_flows", new_row(), "quantity", i, ts) for i, ts in enumerate(stamps)
    ]
    # Ranges from the first round (no incremental pull, which would need no summary here).
    reader = SyncClient(world.server.url, ClientReplica(), world.http, world.token, pull=False)
    for part in (history[::2], history[1::2]):
        answer = await world.sync({"node": writer.node, "messages": [m.to_json() for m in part]})
        assert answer.status == 200, answer.body
        report = await reader.sync()
    # It descended (round 1 compares coarse nodes), then got the minutes that differ.
    assert report.rounds >= 3 and report.received >= 400
    root = await world.db.conn.fetchval(
        "SELECT ARRAY[hash, count] FROM merkle_nodes WHERE tenant_id = $1 AND path = ''",
        world.tenant.id,
    )
    assert reader.replica.trie.get("") == tuple(root)


async def test_a_bad_node_id_is_422(world: World) -> None:
    msg = world.fresh()[0].to_json()
    for node in ["", N.upper(), N[:-1], N + "0", "g" + N[1:], 5, None]:
        body = await world.refused(node, 422, "invalid", {"node": node, "messages": [msg]})
        assert "node" in body["message"]


# -- invalid messages --------------------------------------------------------------------------

MSG_CASES: dict[str, dict[str, Any]] = {
    "unknown-key": {"colour": "red"},
    "unknown-dataset": {"dataset": "invoices"},
    "dataset-not-identifier": {"dataset": "Pre Orders"},
    "unknown-column": {"column": "price"},
    "missing-value": {"value": DROP},
    "missing-timestamp": {"timestamp": DROP},
    "text-for-number": {"value": "12"},
    "object-value": {"value": {"n": 1}},
    "list-value": {"value": [1]},
    "negative-quantity": {"value": -1},
    "huge-quantity": {"value": 1e300},
    "huge-integer": {"value": 2**60},
    "integer-past-u64": {"value": 2**70},  # orjson reads it as a float: still too large
    "boolean-quantity": {"value": True},
    "non-uuid-row": {"row": "row-1"},
    "upper-case-uuid-row": {"row": "A" * 8 + "-AAAA-4AAA-8AAA-" + "A" * 12},
    "empty-row": {"row": ""},
    "row-not-string": {"row": 7},
    "timestamp-garbage": {"timestamp": "yesterday"},
    "timestamp-lower-z": {"timestamp": "2026-11-23t06:00:00.000z-0000-0123456789abcdef"},
    "timestamp-month-13": {"timestamp": "2026-13-01T00:00:00.000Z-0000-0123456789abcdef"},
    "timestamp-feb-30": {"timestamp": "2026-02-30T00:00:00.000Z-0000-0123456789abcdef"},
    "timestamp-upper-node": {"timestamp": "2026-11-23T06:00:00.000Z-0000-0123456789ABCDEF"},
    "timestamp-lower-counter": {"timestamp": "2026-11-23T06:00:00.000Z-00ff-0123456789abcdef"},
    "timestamp-number": {"timestamp": 1795413600000},
    # before 1997-04-13 the trie key is shorter than 16 digits: such a message used to be
    # stored, and then no client holding later history could ever converge again
    "timestamp-before-1997": {"timestamp": "1990-06-01T00:00:00.000Z-0000-0123456789abcdef"},
    "prev-garbage": {"prev": "not a timestamp"},
    "prev-number": {"prev": 3},
    "prev-object": {"prev": {"ts": "x"}},
}


async def test_an_invalid_message_fails_the_whole_batch_with_its_index(world: World) -> None:
    good = world.fresh(4)
    cases: dict[str, object] = {k: with_(good[2], **v) for k, v in MSG_CASES.items()}
    cases["not-an-object"] = ["pre_order_flows"]
    cases["null"] = None
    for case, bad in cases.items():
        batch = [good[0].to_json(), good[1].to_json(), bad, good[3].to_json()]
        body = await world.refused(
            case, 422, "invalid", {"node": world.writer.node, "messages": batch}
        )
        assert body["index"] == 2 and "message 2" in body["message"], (case, body)
    # The same good messages alone are accepted: only the bad one refused the batch.
    ok = await world.sync({"node": world.writer.node, "messages": [m.to_json() for m in good]})
    assert ok.status == 200 and ok.body["inserted"] == 4


REFUSED_VALUES: list[tuple[str, str, object]] = [
    ("pre_orders", "status", "draft"),
    ("pre_orders", "delivery_date", "2026-02-30"),
    ("pre_orders", "delivery_date", "23/11/2026"),
    ("pre_orders", "partner_id", "not-a-uuid"),
    ("pre_orders", "created_at", "yesterday"),
    ("pre_orders", "tombstone", 2),
    ("pre_orders", "tombstone", 1.0),
    ("pre_orders", "tombstone", True),  # bool is an int to Python: was a 500
    ("pre_orders", "tombstone", None),
    ("partners", "name", "x" * 501),
    ("partners", "name", "a\u0000b"),  # PostgreSQL text cannot hold NUL: was a 500
    ("partners", "short_name", "s" * 101),
    ("profiles", "email", "not an email"),
    ("profiles", "avatar", "https://example.com/a.png"),
    ("profiles", "avatar", "data:image/png;base64," + "A" * 200_000),
    ("products", "unit_weight", -0.5),
    ("products", "unit_weight", 1e13),
    ("partners", "name", "x" * (256 * 1024 + 1)),
]


async def test_a_value_the_column_does_not_accept_is_422(world: World) -> None:
    [good] = world.fresh()
    for dataset, column, value in REFUSED_VALUES:
        msg = with_(good, dataset=dataset, column=column, value=value)
        case = (dataset, column, str(value)[:30])
        body = await world.refused(
            case, 422, "invalid", {"node": world.writer.node, "messages": [msg]}
        )
        assert body["index"] == 0


async def test_duplicate_timestamps_in_a_batch(world: World) -> None:
    """A timestamp is a message's identity. Two different edits under one stamp in a batch
    are a client bug; the server used to keep the last one silently (so which edit won
    depended on the order in the batch). It refuses the batch now. An exact repeat is a
    harmless retry and is stored once."""
    a, b = world.fresh(2)
    for case, twin in {
        "other-value": with_(a, value=99),
        "other-row": with_(a, row=new_row()),
        "other-column": with_(a, column="weight"),
        "int-vs-float": with_(a, value=float(a.value or 0) + 0.5),
    }.items():
        batch = [a.to_json(), b.to_json(), twin]
        body = await world.refused(
            case, 422, "invalid", {"node": world.writer.node, "messages": batch}
        )
        assert body["index"] == 2 and "timestamp" in body["message"]
    before = await world.db.count("messages")
    same = a.to_json()
    answer = await world.sync({"node": world.writer.node, "messages": [same, same, same]})
    assert answer.status == 200 and answer.body["inserted"] == 1
    assert await world.db.count("messages") == before + 1


async def test_a_message_stamped_far_in_the_future_is_clock_drift(world: World) -> None:
    good = world.fresh(2)
    future_ms = int(time.time() * 1000) + 3600_000
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(future_ms / 1000))
    future = with_(good[1], timestamp=f"{stamp}.000Z-0000-{world.writer.node}")
    started = int(time.time() * 1000)
    body = await world.refused(
        "future",
        422,
        "clock_drift",
        {"node": world.writer.node, "messages": [good[0].to_json(), future]},
    )
    assert body["index"] == 1
    assert isinstance(body["server_time"], int)
    assert abs(body["server_time"] - started) < 5000


# -- limits ---------------------------------------------------------------------------------


async def test_a_body_over_max_body_bytes_is_413(
    world: World, make_server: MakeServer, http: aiohttp.ClientSession
) -> None:
    small = await make_server(max_body_bytes=4096)
    msgs = world.fresh(40)
    payload = orjson.dumps({"node": world.writer.node, "messages": [m.to_json() for m in msgs]})
    assert len(payload) > 4096
    before = await world.db.fingerprint()
    answer = await call(http, "POST", small.url + "/sync", world.token, raw=payload)
    assert_error(answer, 413, "too_large")
    login = await call(http, "POST", small.url + "/auth/login", raw=b" " * 5000 + b"{}")
    assert_error(login, 413, "too_large")
    assert await world.db.fingerprint() == before
    # Under the limit, the same server takes it.
    ok = await call(
        http,
        "POST",
        small.url + "/sync",
        world.token,
        {"node": world.writer.node, "messages": [m.to_json() for m in msgs[:5]]},
    )
    assert ok.status == 200


async def test_more_than_max_messages_per_request_is_413(
    world: World, make_server: MakeServer, http: aiohttp.ClientSession
) -> None:
    limited = await make_server(max_messages_per_request=3)
    msgs = [m.to_json() for m in world.fresh(4)]
    url = limited.url + "/sync"
    before = await world.db.fingerprint()
    answer = await call(
        http, "POST", url, world.token, {"node": world.writer.node, "messages": msgs}
    )
    body = assert_error(answer, 413, "too_many_messages")
    assert "3" in body["message"]
    assert await world.db.fingerprint() == before
    ok = await call(
        http, "POST", url, world.token, {"node": world.writer.node, "messages": msgs[:3]}
    )
    assert ok.status == 200 and ok.body["inserted"] == 3


def b64(data: object) -> str:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_a_malformed_sync_cursor_is_400_and_writes_nothing(world: World) -> None:
    """The messages of the same request are not stored either (they used to be: the cursor
    was decoded after the batch had been applied)."""
    msgs = [m.to_json() for m in world.fresh(2)]
    for cursor in [
        "",
        "!!!",
        b64(b"not json"),
        b64([1, 2]),
        b64({"paths": [""]}),
        b64({"paths": [""], "after": "", "extra": 1}),
        b64({"paths": ["9"], "after": ""}),
        b64({"paths": [""], "after": "a\u0000b"}),  # NUL into a SQL text parameter
        b64({"paths": [""], "after": 5}),
        b64({"paths": [""] * 50, "after": ""}),  # overlapping ranges: one scan per copy
        b64({"paths": ["1", "12"], "after": ""}),
    ]:
        payload = {"node": world.writer.node, "messages": msgs, "cursor": cursor}
        await world.refused(cursor, 400, "bad_request", payload)


async def test_a_malformed_snapshot_cursor_is_400(world: World) -> None:
    for cursor in [
        "!!!",
        b64(b"nope"),
        b64({"start": 0, "ds": 0}),
        b64({"start": 0, "ds": 99, "after": ""}),
        b64({"start": "0", "ds": 0, "after": ""}),
        b64({"start": 0, "ds": 0, "after": "not-a-uuid"}),  # was a 500 (uuid cast)
        b64({"start": 2**63, "ds": 5, "after": ""}),  # past bigint: was a 500
        b64({"start": -1, "ds": 0, "after": ""}),
    ]:
        path = f"/snapshot?cursor={cursor}"
        await world.refused(cursor, 400, "bad_request", method="GET", path=path)


async def test_bad_debug_parameters_are_400(world: World) -> None:
    admin = world.tenant.token("carla")
    for query in ["depth=17", "depth=-1", "depth=x", "prune=%C2%B2", "path=3", "path=" + "0" * 17]:
        path = f"/debug/merkle?{query}"
        await world.refused(query, 400, "bad_request", method="GET", path=path, token=admin)
    await world.refused(
        "compare",
        422,
        "invalid",
        {"trie": {"hash": "x"}},
        path="/debug/merkle/compare",
        token=admin,
    )


async def test_rate_limit_is_429_and_other_tenants_are_still_served(
    world: World, make_server: MakeServer, http: aiohttp.ClientSession
) -> None:
    other = await world.make_tenant("Globex", reps=("dora",), admins=())
    limited = await make_server(rate_per_s=1, rate_burst=2)
    [msg] = world.fresh()
    payload = {"node": world.writer.node, "messages": [msg.to_json()]}
    for _ in range(2):
        ok = await call(http, "GET", limited.url + "/auth/me", world.token)
        assert ok.status == 200
    before = await world.db.fingerprint()
    answer = await call(http, "POST", limited.url + "/sync", world.token, payload)
    body = assert_error(answer, 429, "rate_limited")
    assert 0 < body["retry_after_s"] <= 1.0
    assert await world.db.fingerprint() == before
    # Another tenant's user (and another user of the same tenant) is served meanwhile.
    theirs = await call(http, "GET", limited.url + "/auth/me", other.token("dora"))
    assert theirs.status == 200 and theirs.body["tenant_id"] == other.id
    colleague = await call(http, "GET", limited.url + "/auth/me", world.tenant.token("bob"))
    assert colleague.status == 200
    # After the refill the limited user is served again, and the push lands.
    await asyncio.sleep(body["retry_after_s"] + 0.05)
    again = await call(http, "POST", limited.url + "/sync", world.token, payload)
    assert again.status == 200 and again.body["inserted"] == 1


async def test_an_admin_request_costs_one_rate_limit_token(
    world: World, make_server: MakeServer, http: aiohttp.ClientSession
) -> None:
    """The operation's guard authenticates once: creating a partner (an admin operation)
    takes one token of the caller's bucket, not one per check."""
    limited = await make_server(rate_per_s=0.01, rate_burst=3)
    admin = world.tenant.token("carla")
    answers = [
        await call(http, "POST", limited.url + "/api/v1/partners", admin, {"name": f"P{i}"})
        for i in range(4)
    ]
    assert [a.status for a in answers] == [201, 201, 201, 429]


async def test_unknown_routes_are_404_and_wrong_methods_405_json(world: World) -> None:
    for path in ("/nope", "/sync/extra", "/debug", "/auth"):
        await world.refused(path, 404, "not_found", method="GET", path=path)
    for method, path in [
        ("GET", "/sync"),
        ("PUT", "/sync"),
        ("DELETE", "/snapshot"),
        ("POST", "/snapshot"),
        ("GET", "/auth/login"),
        ("POST", "/debug/merkle"),
        ("GET", "/debug/merkle/compare"),
    ]:
        await world.refused((method, path), 405, "method_not_allowed", method=method, path=path)


# -- hypothesis: malformed sync payloads ------------------------------------------------------

json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)


def _json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)


json_value = st.recursive(json_scalar, _json_containers, max_leaves=12)
FIELDS = ("dataset", "row", "column", "value", "timestamp", "prev")


@st.composite
def mutated_message(draw: st.DrawFn, pool: list[Message]) -> object:
    """A real message with some fields replaced by random JSON, dropped, or stretched."""
    base = draw(st.sampled_from(pool)).to_json()
    kind = draw(st.sampled_from(["field", "drop", "extra", "huge", "stamp", "whole", "keep"]))
    if kind == "whole":
        return draw(json_value)
    if kind == "keep":
        return base
    field = draw(st.sampled_from(FIELDS))
    if kind == "field":
        base[field] = draw(json_value)
    elif kind == "drop":
        base.pop(field, None)
    elif kind == "extra":
        base[draw(st.text(min_size=1, max_size=10))] = draw(json_value)
    elif kind == "huge":
        base[field] = "x" * draw(st.sampled_from([501, 70_000, 300_000]))
    else:  # flip one character of the timestamp (or prev)
        stamp = str(base["timestamp"])
        i = draw(st.integers(0, len(stamp) - 1))
        base[draw(st.sampled_from(["timestamp", "prev"]))] = (
            stamp[:i] + draw(st.characters(codec="utf-8")) + stamp[i + 1 :]
        )
    return base


@st.composite
def text_edit(draw: st.DrawFn, pool: list[Message]) -> object:
    """A real message turned into an edit of a text column with arbitrary text (NUL,
    astral planes, right-to-left marks, too long): accepted or 422, never stored broken."""
    base = draw(st.sampled_from(pool)).to_json()
    column = draw(st.sampled_from(["name", "short_name"]))
    return {**base, "dataset": "partners", "column": column, "value": draw(st.text(max_size=600))}


@st.composite
def malformed_payload(draw: st.DrawFn, pool: list[Message], node: str) -> tuple[str, bytes]:
    shape = draw(
        st.sampled_from(
            [
                "messages",
                "duplicates",
                "toplevel",
                "nested",
                "nested-value",
                "bytes",
                "text",
                "valid",
            ]
        )
    )
    if shape == "nested":
        depth = draw(st.integers(500, 3000))
        inner = b"[" * depth + b"]" * depth
        return shape, b'{"node": "' + node.encode() + b'", "messages": ' + inner + b"}"
    if shape == "toplevel":
        return shape, dumps(draw(json_value))
    if shape == "bytes":
        good = orjson.dumps({"node": node, "messages": [pool[0].to_json()]})
        i = draw(st.integers(0, len(good) - 1))
        return shape, good[:i] + draw(st.binary(min_size=1, max_size=4)) + good[i + 1 :]
    items: list[object]
    if shape == "nested-value":
        depth = draw(st.integers(1, 400))  # (the raw "nested" shape goes past 1024)
        value: object = 1
        for _ in range(depth):
            value = [value] if draw(st.booleans()) else {"v": value}
        items = [{**pool[0].to_json(), "value": value}]
    elif shape == "duplicates":
        first = draw(st.sampled_from(pool)).to_json()
        items = [first, {**first, "value": draw(json_value)}]
    elif shape == "text":
        items = draw(st.lists(text_edit(pool), min_size=1, max_size=3))
    elif shape == "valid":  # real messages, some repeated: must be a 200
        items = [m.to_json() for m in draw(st.lists(st.sampled_from(pool), max_size=6))]
    else:
        items = draw(st.lists(mutated_message(pool), min_size=1, max_size=6))
    payload: dict[str, object] = {"node": node, "messages": items}
    if draw(st.booleans()):
        payload["summary"] = {"scopes": [""], "nodes": []}
    return shape, dumps(payload)


@pytest.fixture
async def hostile(world: World) -> tuple[World, list[Message]]:
    return world, world.fresh(8)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_malformed_sync_payloads_are_4xx_and_change_nothing(
    hostile: tuple[World, list[Message]], data: st.DataObject
) -> None:
    world, pool = hostile
    shape, raw = data.draw(malformed_payload(pool, world.writer.node))
    before = await world.db.fingerprint()
    answer = await world.sync(raw=raw)
    event(f"{shape}: {answer.status}")
    assert answer.status < 500, (answer.status, answer.body, raw[:300])
    if shape == "valid" and answer.status != 200:
        # Real messages are accepted, unless an earlier example stored other content under
        # one of their timestamps: then the identity collision is refused, never dropped.
        body = assert_error(answer, 409, "timestamp_reused")
        [stored] = await world.db.conn.fetch(
            "SELECT dataset, row_id, col, value FROM messages WHERE timestamp = $1",
            body["timestamp"],
        )
        pushed = next(m for m in pool if m.timestamp == body["timestamp"])
        assert (stored["dataset"], stored["row_id"], stored["col"], stored["value"]) != (
            pushed.dataset,
            pushed.row,
            pushed.column,
            pushed.value,
        )
    if answer.status == 200:
        assert isinstance(answer.body, dict) and "root" in answer.body
        return
    assert 400 <= answer.status < 500
    assert_error(answer, answer.status)
    assert await world.db.fingerprint() == before, raw[:300]
