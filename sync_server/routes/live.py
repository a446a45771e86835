"""GET /live: a WebSocket per client; the server says `{"type": "changed", "seq": n}` when
its tenant has new messages, and the client runs a sync round. Auth: `?ticket=`, a
short-lived token from POST /auth/ticket (browsers cannot set headers on a WebSocket)."""

from __future__ import annotations

from aiohttp import WSMsgType, web

from ..httpio import caller
from ..keys import HUB
from ..operations import operation
from ..protocol import PROTOCOL_HEADER, check_version


@operation("GET", "/live", "Live change notices (WebSocket)", "sync", documented=False, ticket=True)
async def live(request: web.Request) -> web.WebSocketResponse:
    who = caller(request)
    # A browser cannot set headers on a WebSocket handshake: the version may come as a query.
    check_version(request.headers.get(PROTOCOL_HEADER) or request.query.get("protocol"))
    # No permessage-deflate: notices are a few dozen bytes, and a compressed socket costs
    # a zlib stream of memory and a compression per notice, times every subscriber.
    ws = web.WebSocketResponse(heartbeat=25, compress=False)
    await ws.prepare(request)
    hub = request.app[HUB]
    hub.add(who.tenant_id, ws, who.session_id, request.transport)
    try:
        await ws.send_str('{"type":"hello"}')
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data == "ping":
                await ws.send_str('{"type":"pong"}')
    finally:
        hub.remove(who.tenant_id, ws)
    return ws
