"""Every key of the application's state, typed, in one module.

`app.py` builds each value and stores it under its key; handlers read them from
`request.app[...]`. This module imports only the types it names, none of which import it
back, so handlers and the composition root both depend on it without a circle.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from .airtable.bridge import AirtableBridge
from .airtable.secrets_box import SecretsBox
from .auth import Principal
from .clock import ServerClock
from .metrics import Metrics
from .ratelimit import BodyBudget, RateLimiter
from .services.accounts import Accounts
from .services.live import LiveHub
from .services.nodes import NodeOwners
from .services.orders_dashboard import OrdersDashboard
from .services.pages import PageCache
from .services.records import Records
from .services.relay import Relay
from .services.retention import Retention
from .services.summary import SummaryCache
from .services.sync import SyncService
from .services.writer import TenantWriter
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
METRICS = web.AppKey("metrics", Metrics)
LIMITER = web.AppKey("limiter", RateLimiter)
BODY_BUDGET = web.AppKey("body_budget", BodyBudget)
CLOCK = web.AppKey("clock", ServerClock)
HUB = web.AppKey("hub", LiveHub)
NODE_OWNERS = web.AppKey("node_owners", NodeOwners)
WRITER = web.AppKey("writer", TenantWriter)
SUMMARY_CACHE = web.AppKey("summary_cache", SummaryCache)
PAGE_CACHE = web.AppKey("page_cache", PageCache)
RELAY = web.AppKey("relay", Relay)
RETENTION = web.AppKey("retention", Retention)
SYNC = web.AppKey("sync", SyncService)
RECORDS = web.AppKey("records", Records)
ACCOUNTS = web.AppKey("accounts", Accounts)
SECRETS_BOX = web.AppKey("secrets_box", SecretsBox)
BRIDGE = web.AppKey("airtable_bridge", AirtableBridge)
ORDERS_DASHBOARD = web.AppKey("orders_dashboard", OrdersDashboard)

#: The authenticated caller of this request, set by the operation's guard (`operations.py`).
PRINCIPAL = web.RequestKey("principal", Principal)
