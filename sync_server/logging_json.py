"""JSON-lines logs: one object per record, with any `extra=` fields (request ids, timings).

Repeated records are rate-limited (`RepeatFilter`): a flood of clients that all fail the
same way (slow, malformed, disconnecting) must not fill the disk with the same line. Each
kind of record (logger and message template) may burst, then passes about once a second;
the next that passes says how many were suppressed."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


class RepeatFilter(logging.Filter):
    """Token buckets per (logger, message template). `now` is injectable for tests."""

    MAX_KINDS = 1000

    def __init__(
        self, burst: int = 20, per_s: float = 1.0, now: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst, self.per_s, self.now = float(burst), per_s, now
        self._kinds: dict[tuple[str, str], tuple[float, float, int]] = {}
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self.now()
        tokens, last, dropped = self._kinds.get(key, (self.burst, now, 0))
        tokens = min(self.burst, tokens + (now - last) * self.per_s)
        if tokens < 1:
            self._kinds[key] = (tokens, now, dropped + 1)
            self.suppressed += 1
            return False
        if dropped:
            record.suppressed = dropped
        if len(self._kinds) >= self.MAX_KINDS and key not in self._kinds:
            self._kinds.clear()
        self._kinds[key] = (tokens - 1, now, 0)
        return True


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
