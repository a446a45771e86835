"""A replica as a device export (format "recap-device", version 1: the file the app's
diagnostics page downloads and `python -m sync_server diff` reads; DESIGN.md,
"Diagnostics"). The Python client keeps its whole log, so `messages` is all of it."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import orjson

from crdt.timestamp import iso_millis

from .replica import ClientReplica

FORMAT = "recap-device"
VERSION = 1


def export_device(
    replica: ClientReplica,
    *,
    server: str,
    user: dict[str, Any],
    tenant_id: str,
    last_sync_at: int | None = None,
    path: Path | None = None,
) -> dict[str, Any]:
    """The export document of `replica`, signed in as `user` ({id, name, role}) of
    `tenant_id` on `server`; written to `path` too when given (gzip-compressed when its
    name ends in .gz). Nothing a rep could not see already: no token, no other user's data
    beyond what the replica synced."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": iso_millis(int(time.time() * 1000)),
        "server": server,
        "user": {"id": user["id"], "name": user["name"], "role": user["role"]},
        "tenant_id": tenant_id,
        "node": replica.node,
        "clock": str(replica.clock.last),
        "clock_offset_ms": replica.offset_ms,
        "pulled_through": replica.pulled_through,
        "last_sync_at": last_sync_at,
        "trie": replica.trie.to_json(),
        "messages": [
            {k: v for k, v in m.to_json().items() if k != "prev"} for m in replica.log.values()
        ],
        "outbox": sorted(replica.outbox),
        "registers": [
            {
                "dataset": ds,
                "row": row,
                "column": col,
                "value": reg.value,
                "timestamp": reg.timestamp,
            }
            for (ds, row), regs in replica.registers.items()
            for col, reg in regs.items()
        ],
    }
    if path is not None:
        raw = orjson.dumps(document)
        path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return document
