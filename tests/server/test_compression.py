"""`/sync` and `/snapshot` answers are gzipped when the client accepts gzip (httpio.compressed),
and the Python client asks for it and decodes it."""

from __future__ import annotations

import gzip
import random
import uuid
from typing import Any

import aiohttp
import orjson

from crdt.merkle import FlatTrie
from crdt.reconcile import frontier
from recap_client import ClientReplica, SyncClient
from seed import demo_stamper
from sync_server import database
from sync_server.httpio import COMPRESS_MIN_BYTES
from sync_server.storage.apply import apply_messages
from tests.conftest import MakeServer, MakeTenant, Tenant


class Wire:
    """Raw requests: no automatic `Accept-Encoding`, no automatic decoding, so what the
    server sent is what we see."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.session = aiohttp.ClientSession(
            auto_decompress=False, skip_auto_headers=["Accept-Encoding"]
        )

    async def call(
        self, method: str, path: str, encoding: str | None, payload: object = None
    ) -> tuple[aiohttp.ClientResponse, bytes, Any]:
        """The response, its body as sent, and its JSON (decoded from gzip if it was)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if encoding is not None:
            headers["Accept-Encoding"] = encoding
        data = None if payload is None else orjson.dumps(payload)
        async with self.session.request(
            method, self.base + path, data=data, headers=headers
        ) as resp:
            raw = await resp.read()
            assert resp.status == 200, raw[:200]
        plain = gzip.decompress(raw) if resp.headers.get("Content-Encoding") == "gzip" else raw
        return resp, raw, orjson.loads(plain)

    async def close(self) -> None:
        await self.session.close()


def without_cursor(body: dict[str, Any]) -> dict[str, Any]:
    """A page minus its cursor (sealed afresh on each answer, so two answers differ there)."""
    return {k: v for k, v in body.items() if k != "cursor"}


async def seeded(make_server: MakeServer, make_tenant: MakeTenant) -> tuple[str, Tenant, int]:
    """A tenant with a few thousand messages of the demo data, snapshot pages of 500 rows."""
    server = await make_server(snapshot_page_rows=500)
    t = await make_tenant()
    messages = demo_stamper(random.Random(7), 7, 7, partners=20, products=30).messages
    pool = await database.create_pool(server.db_url, 1, 2)
    try:
        async with pool.acquire() as conn:
            for i in range(0, len(messages), 400):
                await apply_messages(conn, t.id, t.user_id("carla"), messages[i : i + 400])
    finally:
        await pool.close()
    return server.url, t, len(messages)


async def test_snapshot_pages_are_gzipped_when_accepted_and_decode_the_same(
    make_server: MakeServer, make_tenant: MakeTenant
) -> None:
    base, t, n = await seeded(make_server, make_tenant)
    assert n >= 2000
    wire = Wire(base, t.token("alice"))
    try:
        sizes = {"gzip": 0, "identity": 0}
        pages = compressed = 0
        path = "/snapshot"
        while True:
            zipped, zraw, zbody = await wire.call("GET", path, "gzip, deflate, br, zstd")
            bare, braw, bbody = await wire.call("GET", path, None)
            assert "Content-Encoding" not in bare.headers
            # a page under COMPRESS_MIN_BYTES (a small dataset's last rows) goes as it is
            expected = "gzip" if len(braw) >= COMPRESS_MIN_BYTES else None
            assert zipped.headers.get("Content-Encoding") == expected, len(braw)
            assert zipped.headers["Vary"] == "Accept-Encoding"
            assert int(zipped.headers["Content-Length"]) == len(zraw)
            compressed += expected is not None
            assert without_cursor(zbody) == without_cursor(bbody)
            refused, rraw, _ = await wire.call("GET", path, "gzip;q=0, identity")
            assert "Content-Encoding" not in refused.headers
            assert rraw == braw
            sizes["gzip"] += len(zraw)
            sizes["identity"] += len(braw)
            pages += 1
            if zbody["done"]:
                break
            path = f"/snapshot?cursor={zbody['cursor']}"
        assert compressed >= 3
        ratio = sizes["gzip"] / sizes["identity"]
        print(f"\nsnapshot of {n} messages, {pages} pages: {sizes} ratio {ratio:.3f}")
        assert ratio < 0.5
    finally:
        await wire.close()


async def test_sync_pages_are_gzipped_and_a_nothing_new_round_is_not(
    make_server: MakeServer, make_tenant: MakeTenant
) -> None:
    base, t, n = await seeded(make_server, make_tenant)
    wire = Wire(base, t.token("alice"))
    empty = frontier(FlatTrie())
    round_ = {
        "node": uuid.uuid4().hex[:16],
        "summary": {"scopes": empty.scopes, "nodes": empty.nodes},
    }
    try:
        zipped, zraw, zbody = await wire.call("POST", "/sync", "gzip", round_)
        bare, braw, bbody = await wire.call("POST", "/sync", None, round_)
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert "Content-Encoding" not in bare.headers
        assert zbody["messages"], "the first round of an empty replica sends history"
        drop = ("cursor", "server_time")
        assert {k: v for k, v in zbody.items() if k not in drop} == {
            k: v for k, v in bbody.items() if k not in drop
        }
        print(f"\nsync page: gzip {len(zraw)} identity {len(braw)} bytes")
        assert len(zraw) < len(braw) / 2

        # A replica that holds everything: a ~170-byte answer, not worth compressing.
        full = ClientReplica()
        await SyncClient(base, full, wire.session, t.token("alice")).sync()
        assert len(full.log) == n
        summary = frontier(full.trie)
        quiet = {"node": full.node, "summary": {"scopes": summary.scopes, "nodes": summary.nodes}}
        small, sraw, sbody = await wire.call("POST", "/sync", "gzip", quiet)
        assert "Content-Encoding" not in small.headers
        assert not sbody.get("messages")
        assert len(sraw) < COMPRESS_MIN_BYTES
    finally:
        await wire.close()


async def test_the_python_client_asks_for_gzip_and_decodes_it(
    make_server: MakeServer, make_tenant: MakeTenant
) -> None:
    """Through a session that adds no `Accept-Encoding` of its own and decodes nothing: the
    server compresses only if the client asked, and the client must decode itself."""
    base, t, _ = await seeded(make_server, make_tenant)
    wire = Wire(base, t.token("alice"))
    try:
        raw_client = SyncClient(base, ClientReplica(), wire.session, t.token("alice"))
        boot = await raw_client.bootstrap()
        async with aiohttp.ClientSession() as usual:
            plain = SyncClient(base, ClientReplica(), usual, t.token("alice"))
            await plain.bootstrap()
        assert raw_client.replica.state() == plain.replica.state()

        # The same bootstrap's bytes without compression: the identity answers, summed.
        identity = 0
        path = "/snapshot"
        while True:
            _, braw, body = await wire.call("GET", path, None)
            identity += len(braw)
            if body["done"]:
                break
            path = f"/snapshot?cursor={body['cursor']}"
        print(f"\nclient bootstrap: {boot.bytes_received} bytes on the wire; snapshot {identity}")
        assert boot.bytes_received < identity / 2
    finally:
        await wire.close()
