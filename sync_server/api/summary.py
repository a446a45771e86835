"""GET /api/v1/summary: dashboard figures for a delivery-date range (see services/summary.py
for how they are computed and cached)."""

from __future__ import annotations

import datetime

from aiohttp import web

from ..errors import Invalid
from ..httpio import caller, json_response, parse_query
from ..keys import POOL, SUMMARY_CACHE
from ..models import Summary, SummaryQuery
from ..operations import operation
from ..services.summary import Key, summary_for

#: The default range: this many days back and ahead of today.
DEFAULT_SPAN = datetime.timedelta(days=30)
MAX_SPAN_DAYS = 3660


@operation(
    "GET",
    "/api/v1/summary",
    "Dashboard figures for a delivery-date range (default: 30 days back to 30 days ahead)",
    "dashboard",
    response=Summary,
    query=SummaryQuery,
    errors=[422],
)
async def get_summary(request: web.Request) -> web.Response:
    q = parse_query(request, SummaryQuery)
    today = datetime.date.today()
    start = q.date_from or today - DEFAULT_SPAN
    end = q.date_to or today + DEFAULT_SPAN
    if end < start:
        raise Invalid("'to' is before 'from'")
    if (end - start).days > MAX_SPAN_DAYS:
        raise Invalid("the range is limited to ten years")
    key: Key = (caller(request).tenant_id, start, end, q.top)
    body = await summary_for(request.app[SUMMARY_CACHE], request.app[POOL], key)
    response = json_response(body)
    response.headers["Cache-Control"] = "private, max-age=0"
    return response
