"""The Python client sends a request again, once, when a kept-alive connection turns out to
have been closed by the server (its idle timeout) and fails before any answer. A busy
client (adopting a million-message snapshot, five at once in the dashboard benchmark) left
a connection idle past the server's 15 s and its next `/sync` failed with "Server
disconnected". The server here answers the first request of each connection and closes the
connection when a second one arrives on it, which is what that looks like on the wire."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from recap_client import ClientReplica, SyncClient


class OneRequestPerConnection:
    """A loopback HTTP server that answers a connection's first request (keeping it
    alive) and drops the connection on its second, unanswered."""

    def __init__(self) -> None:
        self.requests = 0
        self.dropped = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                self.requests += 1
                if answered:
                    self.dropped += 1
                    break
                body = orjson.dumps({"ok": True, "n": self.requests})
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Connection: keep-alive\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_a_request_on_a_connection_the_server_dropped_is_sent_again() -> None:
    fake = OneRequestPerConnection()
    async with fake as url, aiohttp.ClientSession() as session:
        client = SyncClient(url, ClientReplica(), session, "token")
        assert (await client._post("/sync", {"node": "x"}, None))["n"] == 1
        # Same kept-alive connection: dropped unanswered, then sent again on a new one.
        assert (await client._post("/sync", {"node": "x"}, None))["n"] == 3
    assert (fake.requests, fake.dropped) == (3, 1)


async def test_a_second_drop_in_a_row_is_an_error() -> None:
    """Only once: a server that keeps dropping requests is not retried forever."""

    class Never(OneRequestPerConnection):
        async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.close()  # (a POST: aiohttp itself retries only idempotent methods)

    fake = Never()
    async with fake as url, aiohttp.ClientSession() as session:
        client = SyncClient(url, ClientReplica(), session, "token")
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client._post("/sync", {"node": "x"}, None)
    assert fake.requests == 2
