"""A small Airtable Web API client on aiohttp (list with offset paging and a formula, batch
create/update/delete), every request paced by the shared limiter, with retries.

Why not pyairtable: it is synchronous (requests), so it would block the event loop or need
a thread per call, and its in-process rate limiting cannot be shared between processes.
The bridge needs only four endpoints, so a thin client keeps the pacing and the retry policy
in one place where they can be tested against the fake server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from ..errors import UpstreamFailed
from .limiter import SharedRateLimiter

BATCH = 10  # Airtable's limit of records per create/update/delete request
PAGE_SIZE = 100


class AirtableError(UpstreamFailed):
    """Airtable refused the request, and retrying will not change that. `status` is
    Airtable's HTTP status (None for a network failure)."""

    code = "airtable_error"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AirtableAuthError(AirtableError):
    code = "airtable_auth_failed"


class AirtableNotFound(AirtableError):
    code = "airtable_not_found"


class AirtableRejected(AirtableError):
    code = "airtable_rejected"


class AirtableUnavailable(AirtableError):
    code = "airtable_unavailable"


def _reason(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return f"{err.get('type', '')}: {err.get('message', '')}".strip(": ")
        if isinstance(err, str):
            return err
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("error") or errors[0].get("message") or "")
    return ""


class AirtableClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str,
        api_key: str,
        base_id: str,
        table: str,
        limiter: SharedRateLimiter,
        penalty_s: float = 30.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
    ) -> None:
        self.session = session
        self.url = f"{api_url.rstrip('/')}/v0/{quote(base_id, safe='')}/{quote(table, safe='')}"
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.base_id = base_id
        self.table = table
        self.limiter = limiter
        self.penalty_s = penalty_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.requests = 0
        self.rate_limited = 0
        self.retried = 0

    async def _call(
        self, method: str, params: list[tuple[str, str]] | None = None, body: Any = None
    ) -> dict[str, Any]:
        failures = 0
        while True:
            await self.limiter.acquire(self.base_id)
            self.requests += 1
            try:
                async with self.session.request(
                    method,
                    self.url,
                    params=params,
                    data=orjson.dumps(body) if body is not None else None,
                    headers={**self.headers, "Content-Type": "application/json"},
                ) as response:
                    status = response.status
                    raw = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, raw, error = 0, b"", f"network error: {exc!r}"
            else:
                error = ""
            try:
                payload = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                payload = {}
            if 200 <= status < 300 and isinstance(payload, dict):
                return payload
            reason = error or _reason(payload) or f"HTTP {status}"
            if status == 429:
                # Airtable keeps refusing the base for 30 s: every process waits it out.
                self.rate_limited += 1
                await self.limiter.penalize(self.base_id, self.penalty_s)
            elif status in (401, 403):
                raise AirtableAuthError(
                    f"Airtable refused the API key for base {self.base_id}, or the key may not "
                    f"access table {self.table!r} ({reason})",
                    status,
                )
            elif status == 404:
                raise AirtableNotFound(
                    f"table {self.table!r} not found in base {self.base_id} ({reason})", status
                )
            elif 400 <= status < 500:
                raise AirtableRejected(f"Airtable rejected the request ({reason})", status)
            else:  # 5xx or the network: back off and retry
                await asyncio.sleep(min(self.backoff_s * 2**failures, 30.0))
            failures += 1
            self.retried += 1
            if failures > self.max_retries:
                raise AirtableUnavailable(
                    f"Airtable did not answer after {failures} attempts ({reason})", status
                )

    async def pages(
        self, formula: str = "", fields: list[str] | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every record matching the formula, one page (<= 100 records) at a time."""
        offset: str | None = None
        while True:
            params = [("pageSize", str(PAGE_SIZE))]
            if formula:
                params.append(("filterByFormula", formula))
            params += [("fields[]", f) for f in fields or []]
            if offset:
                params.append(("offset", offset))
            page = await self._call("GET", params)
            records = page.get("records")
            if not isinstance(records, list):
                raise AirtableRejected("Airtable returned a page without records")
            yield records
            offset = page.get("offset")
            if not offset:
                return

    async def create(self, fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert 0 < len(fields) <= BATCH
        body = {"records": [{"fields": f} for f in fields], "typecast": True}
        return list((await self._call("POST", body=body))["records"])

    async def update(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert 0 < len(records) <= BATCH
        body = {"records": records, "typecast": True}
        return list((await self._call("PATCH", body=body))["records"])

    async def delete(self, record_ids: list[str]) -> None:
        assert 0 < len(record_ids) <= BATCH
        await self._call("DELETE", [("records[]", r) for r in record_ids])
