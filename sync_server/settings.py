"""Settings, read once from the environment (`RECAP_*`, `DATABASE_URL`)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import BaseModel, Field

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseModel):
    database_url: str | None = None
    data_dir: Path = PROJECT_ROOT / ".data"
    host: str = "127.0.0.1"
    port: int = 8080
    token_secret: str = ""
    token_ttl_s: int = 12 * 3600
    max_body_bytes: int = 8 * 1024 * 1024
    #: bodies being read and parsed at once, in bytes (more wait their turn); per user at
    #: most max_body_bytes of it
    body_budget_bytes: int = 16 * 1024 * 1024
    #: how long a request with a body waits for its share of that budget (then 503 busy)
    body_wait_s: float = 10.0
    #: a connection without a whole request (headers dribbling, or idle) is closed after this
    idle_timeout_s: float = 15.0
    #: a request body must arrive within this
    body_timeout_s: float = 30.0
    max_messages_per_request: int = 20_000
    #: a `/sync` or snapshot page holds at most this many messages and bytes: large enough
    #: that a rep back from days offline (30k others' messages in the benchmark) catches up
    #: in one round trip, bounded so that no answer is unbounded (about 300 B a message
    #: before gzip; 24 MiB gzips to about 4 MiB)
    page_messages: int = 60_000
    page_bytes: int = 24 * 1024 * 1024
    snapshot_page_rows: int = 20_000
    #: dashboard answers kept in memory (least recently used out first)
    summary_cache_entries: int = Field(default=256, ge=1)
    #: pre-order list pages kept in memory, in bytes (0: none)
    page_cache_bytes: int = Field(default=16 * 1024 * 1024, ge=0)
    max_drift_ms: int = 5 * 60 * 1000
    rate_per_s: float = 50.0
    rate_burst: int = 200
    pool_min: int = 2
    pool_max: int = 10
    workers: int = Field(default=1, ge=1, le=64)
    static_dir: Path | None = PROJECT_ROOT / "frontend" / "dist"
    log_requests: bool = True
    relay_enabled: bool = True
    #: how long a start waits for PostgreSQL (with backoff) before giving up
    db_wait_s: float = 60.0
    relay_interval_s: float = 0.5
    #: the retention job runs this often (0: never, in this process)
    retention_interval_s: float = 3600.0
    #: published business events are kept this many days
    outbox_retention_days: int = Field(default=30, ge=1)
    #: networks (comma-separated CIDRs) a webhook may reach besides public addresses
    webhook_allow: str = ""
    webhook_timeout_s: float = 5.0
    connector_key: str = ""
    airtable_api_url: str = "https://api.airtable.com"
    airtable_rate_per_s: int = 5
    airtable_penalty_s: float = 30.0
    airtable_max_retries: int = 5
    airtable_backoff_s: float = 0.5
    airtable_poll_s: float = 30.0
    #: where people reach the app (invite and reset links); default: the request's host
    public_url: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        if env.get("DATABASE_URL"):
            values["database_url"] = env["DATABASE_URL"]
        for name in (
            "data_dir",
            "host",
            "port",
            "token_secret",
            "token_ttl_s",
            "max_body_bytes",
            "body_budget_bytes",
            "body_wait_s",
            "idle_timeout_s",
            "body_timeout_s",
            "max_messages_per_request",
            "page_messages",
            "page_bytes",
            "max_drift_ms",
            "rate_per_s",
            "rate_burst",
            "pool_min",
            "pool_max",
            "log_requests",
            "relay_enabled",
            "snapshot_page_rows",
            "workers",
            "connector_key",
            "airtable_api_url",
            "airtable_rate_per_s",
            "airtable_penalty_s",
            "airtable_max_retries",
            "airtable_backoff_s",
            "airtable_poll_s",
            "public_url",
            "db_wait_s",
            "webhook_allow",
            "webhook_timeout_s",
            "summary_cache_entries",
            "page_cache_bytes",
            "retention_interval_s",
            "outbox_retention_days",
        ):
            key = f"RECAP_{name.upper()}"
            if key in env:
                values[name] = env[key]
        values.update(overrides)
        settings = cls.model_validate(values)
        if not settings.token_secret:
            settings.token_secret = _dev_secret(settings.data_dir)
        return settings


def _dev_secret(data_dir: Path) -> str:
    """With no RECAP_TOKEN_SECRET, a random secret kept in the (git-ignored) data directory,
    so tokens survive restarts on a developer's machine. Production sets the variable."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "token_secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
