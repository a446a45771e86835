"""The live channel's fan-out: every subscriber of the tenant hears each change, without
permessage-deflate, and a client that stops reading is closed rather than waited on (one
stuck socket must not hold up the others' notices, nor grow the server's buffers)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
import uuid
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import orjson

from sync_server.keys import HUB
from sync_server.services.live import STALLED_BYTES
from sync_server.storage.outbox import NOTIFY_CHANNEL
from tests.conftest import MakeTenant, Running, live_url
from tests.server.test_processes import next_of_type


def _stuck_subscriber(url: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads again, with a
    small receive buffer so that the server's side fills quickly."""
    parts = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: nothing after the handshake is read
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"permessage-deflate" not in head.lower(), head  # offered, not taken
    return sock


async def _publish(db_url: str, tenant_id: str, count: int, size: int) -> None:
    """`count` business-event notices of about `size` bytes each on the live channel, as
    the relay publishes them."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.executemany(
            "SELECT pg_notify($1, $2)",
            [
                (
                    NOTIFY_CHANNEL,
                    orjson.dumps(
                        {
                            "tenant": tenant_id,
                            "event": {"id": i, "event_type": "test.padding", "pad": "x" * size},
                        }
                    ).decode(),
                )
                for i in range(count)
            ],
        )
    finally:
        await conn.close()


async def test_a_subscriber_that_stops_reading_is_closed_and_the_others_still_hear(
    server: Running, make_tenant: MakeTenant, http: aiohttp.ClientSession
) -> None:
    t = await make_tenant()
    hub = server.app[HUB]
    stuck = await asyncio.to_thread(
        _stuck_subscriber, await live_url(http, server.url, t.token("bob"))
    )
    try:
        async with http.ws_connect(await live_url(http, server.url, t.token("carla"))) as good:
            assert (await good.receive_json(timeout=5))["type"] == "hello"
            assert len(hub.subscribers[t.id]) == 2

            # About 7 MB of notices: more than the stuck client's buffers and the kernel's
            # take, so its unsent bytes pile up in the server's transport.
            await _publish(server.db_url, t.id, 1000, 7000)
            received = 0
            while received < 1000:
                msg = await good.receive_json(timeout=10)
                received += msg.get("type") == "event"
            deadline = time.monotonic() + 15
            while len(hub.subscribers.get(t.id, ())) > 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert len(hub.subscribers.get(t.id, ())) == 1, "the stuck socket is still served"
            assert all(
                transport.get_write_buffer_size() <= STALLED_BYTES + 8000
                for transport in hub.transports.values()
            )

            # The reading subscriber goes on hearing changes.
            row = str(uuid.uuid4())
            async with http.post(
                server.url + "/sync",
                json={
                    "node": "0123456789abcdef",
                    "messages": [
                        {
                            "dataset": "partners",
                            "row": row,
                            "column": "name",
                            "value": "Nordic",
                            "timestamp": f"{_now_iso()}-0000-0123456789abcdef",
                        }
                    ],
                },
                headers={"Authorization": f"Bearer {t.token('carla')}"},
            ) as resp:
                assert resp.status == 200, await resp.text()
            assert (await next_of_type(good, "changed", 5))["seq"] >= 1
    finally:
        stuck.close()


def _now_iso() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
