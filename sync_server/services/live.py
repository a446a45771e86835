"""Live updates: PostgreSQL LISTEN/NOTIFY fans a commit out to every server process, and
each process forwards it to its own WebSocket subscribers of that tenant.

`apply_messages` calls `pg_notify` inside its transaction, so a notice is delivered exactly
when the change commits, to every process listening on the database: several stateless
servers behind a load balancer all tell their clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson
from aiohttp import WSCloseCode, web

from ..storage.outbox import NOTIFY_CHANNEL

#: what a request of a session ended for this reason is answered (`httpio.authenticate`)
ENDED_CODES = {"deactivated": "account_disabled", "device_revoked": "device_revoked"}

log = logging.getLogger("recap.live")
#: Unsent bytes past which a subscriber counts as not reading (a notice is ~40 bytes:
#: this is hundreds of notices the client left unread; asyncio pauses writing at 64 KiB).
STALLED_BYTES = 32 * 1024


class LiveHub:
    def __init__(self, url: str) -> None:
        self.url = url
        self.subscribers: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        #: the session each socket was opened by
        self.sessions: dict[web.WebSocketResponse, str] = {}
        #: each socket's TCP transport, to see a client that stopped reading
        self.transports: dict[web.WebSocketResponse, asyncio.WriteTransport] = {}
        self._conn: asyncpg.Connection | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.notices = 0
        self._sends: set[asyncio.Task[None]] = set()
        #: called with the tenant id on every committed change (cache invalidation)
        self.on_change: list[Callable[[str], None]] = []

    async def start(self) -> None:
        await self._connect()
        self._watchdog = asyncio.create_task(self._keep_listening())

    async def stop(self) -> None:
        if self._watchdog:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        for sockets in list(self.subscribers.values()):
            for ws in list(sockets):
                await ws.close()
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    async def _connect(self) -> None:
        self._conn = await asyncpg.connect(self.url)
        await self._conn.add_listener(NOTIFY_CHANNEL, self._on_notify)

    async def _keep_listening(self) -> None:
        """Reconnect the LISTEN connection if the database drops it."""
        while True:
            await asyncio.sleep(2)
            if self._conn is None or self._conn.is_closed():
                try:
                    await self._connect()
                    log.info("live listener reconnected")
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("live listener reconnect failed: %s", exc)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        self.notices += 1
        try:
            data = orjson.loads(str(payload))
            tenant = str(data["tenant"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if "ended" in data:  # sessions ended: their sockets close now, not at a next request
            self._close_ended(tenant, set(data["ended"]), str(data.get("reason", "")))
            return
        if "event" in data:  # the relay publishing an outbox row: no data changed
            message = orjson.dumps({"type": "event", **data["event"]}).decode()
        else:
            for callback in self.on_change:
                callback(tenant)
            message = orjson.dumps({"type": "changed", "seq": data.get("seq")}).decode()
        sockets = [ws for ws in self.subscribers.get(tenant, ()) if not ws.closed]
        if sockets:
            # One task per notice, not per socket: at 50 subscribers a task each cost more
            # than the sends themselves (the many-reps benchmark's profile).
            task = asyncio.ensure_future(self._fan_out(sockets, message))
            self._sends.add(task)  # keep a reference until it is done
            task.add_done_callback(self._sends.discard)

    async def _fan_out(self, sockets: list[web.WebSocketResponse], message: str) -> None:
        """Send `message` to each socket in turn. A send waits only on a socket whose
        client stopped reading (its transport paused), so such a socket is closed here
        rather than sent to: a notice is only a hint to sync, and one stuck client must
        not hold up the others' notices. It reconnects and syncs when it reads again."""
        for ws in sockets:
            if ws.closed:
                continue
            if self._stalled(ws):
                self._end_later(ws, None, WSCloseCode.TRY_AGAIN_LATER, b"not reading")
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(message)

    def _stalled(self, ws: web.WebSocketResponse) -> bool:
        transport = self.transports.get(ws)
        return transport is not None and transport.get_write_buffer_size() > STALLED_BYTES

    def _end_later(
        self, ws: web.WebSocketResponse, message: str | None, code: int, reason: bytes
    ) -> None:
        task = asyncio.ensure_future(self._end(ws, message, code, reason))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def close_sockets(self) -> None:
        """Close every subscriber's socket (on shutdown, before aiohttp waits for the
        handlers, which would otherwise hang until each client goes away)."""
        for sockets in list(self.subscribers.values()):
            for ws in list(sockets):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    def _close_ended(self, tenant: str, ended: set[str], reason: str) -> None:
        """Tell each socket of an ended session why (the code a request would get), and
        close it; a client reconnecting asks for a ticket and learns the rest."""
        code = ENDED_CODES.get(reason, "session_ended")
        message = orjson.dumps({"type": "ended", "code": code}).decode()
        for ws in list(self.subscribers.get(tenant, ())):
            if self.sessions.get(ws) in ended and not ws.closed:
                self._end_later(ws, message, WSCloseCode.POLICY_VIOLATION, b"session ended")

    @staticmethod
    async def _end(
        ws: web.WebSocketResponse, message: str | None, code: int, reason: bytes
    ) -> None:
        """Say why (if there is a message) and close: 1008 for an ended session, 1013 (try
        again later) for a client that stopped reading."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            if message is not None:
                await ws.send_str(message)
            await ws.close(code=code, message=reason)

    def add(
        self,
        tenant: str,
        ws: web.WebSocketResponse,
        session_id: str = "",
        transport: asyncio.BaseTransport | None = None,
    ) -> None:
        """A subscriber; `transport` (the request's) tells whether its client reads."""
        self.subscribers[tenant].add(ws)
        self.sessions[ws] = session_id
        if isinstance(transport, asyncio.WriteTransport):
            self.transports[ws] = transport

    def remove(self, tenant: str, ws: web.WebSocketResponse) -> None:
        self.subscribers[tenant].discard(ws)
        self.sessions.pop(ws, None)
        self.transports.pop(ws, None)
        if not self.subscribers[tenant]:
            del self.subscribers[tenant]
