"""GET /api/v1/openapi.json (generated from the declarations) and GET /api/v1/docs, a
self-contained HTML page rendered from it (the CSP allows no third-party scripts)."""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from ..httpio import json_response
from ..operations import PUBLIC, build_openapi, operation

_DOC: dict[str, Any] = {}


def openapi_document() -> dict[str, Any]:
    if not _DOC:
        _DOC.update(build_openapi())
    return _DOC


@operation(
    "GET",
    "/api/v1/openapi.json",
    "This document",
    "ops",
    roles=PUBLIC,
    documented=False,
)
async def openapi_json(_request: web.Request) -> web.Response:
    return json_response(openapi_document())


@operation(
    "GET",
    "/api/v1/docs",
    "The API reference as a page",
    "ops",
    roles=PUBLIC,
    documented=False,
)
async def docs_page(_request: web.Request) -> web.Response:
    doc = openapi_document()
    rows = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            codes = ", ".join(op["responses"])
            params = ", ".join(p["name"] for p in op.get("parameters", []))
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            roles = ", ".join(op.get("x-roles", [])) or "anyone"
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(op['summary'])}</td><td>{html.escape(roles)}</td>"
                f"<td>{html.escape(params)}</td><td>{html.escape(ref)}</td><td>{codes}</td></tr>"
            )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Recap API</title>
<style>body{{font:15px system-ui;margin:2rem}}td,th{{padding:.3rem .6rem;border-bottom:1px solid
#ddd;text-align:left;vertical-align:top}}</style></head><body><h1>Recap API</h1>
<p>{html.escape(doc["info"]["description"])} Machine-readable:
<a href="/api/v1/openapi.json">openapi.json</a>. Authenticate with
<code>POST /auth/login</code> and send <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<table><tr><th>Method</th><th>Path</th><th>What</th><th>Who</th><th>Parameters</th><th>Body</th>
<th>Statuses</th></tr>{"".join(rows)}</table></body></html>"""
    return web.Response(text=page, content_type="text/html")
