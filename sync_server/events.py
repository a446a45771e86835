"""Business events derived from a merged batch, for the transactional outbox.

Pure: given the registers of the touched rows before the batch and the registers that
moved, name what happened in business terms — one event per (type, aggregate) per batch,
whoever made the change (a rep's sync, the REST API, an import), because they all go
through the same apply path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crdt.merge import TOMBSTONE, Register


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    aggregate_id: str
    payload: dict[str, Any]


def derive_events(
    before: dict[tuple[str, str], dict[str, Register]],
    changed: dict[tuple[str, str, str], Register],
) -> list[Event]:
    rows: dict[tuple[str, str], dict[str, Register]] = {}
    for (dataset, row, column), reg in changed.items():
        rows.setdefault((dataset, row), {})[column] = reg
    events: list[Event] = []
    for (dataset, row), moved in sorted(rows.items()):
        old = before.get((dataset, row), {})
        values = {c: r.value for c, r in moved.items()}
        stamp = max(r.timestamp for r in moved.values())
        payload: dict[str, Any] = {"id": row, "changes": values, "timestamp": stamp}
        deleted = moved.get(TOMBSTONE)
        was_deleted = old.get(TOMBSTONE) is not None and old[TOMBSTONE].value == 1
        if dataset == "pre_orders":
            if deleted is not None and deleted.value == 1 and not was_deleted:
                events.append(Event("preorder.deleted", row, payload))
                continue
            if not old:
                events.append(Event("preorder.created", row, payload))
                continue
            status = moved.get("status")
            previous = old.get("status")
            if status is not None and (previous is None or status.value != previous.value):
                # named by the new status: preorder.confirmed, .processing ... .cancelled;
                # back to pending is a reopening
                kind = (
                    "preorder.reopened" if status.value == "pending" else f"preorder.{status.value}"
                )
                events.append(Event(kind, row, payload))
            if set(moved) - {"status"}:
                events.append(Event("preorder.updated", row, payload))
        elif dataset == "pre_order_flows":
            parent = moved.get("pre_order_id") or old.get("pre_order_id")
            payload["pre_order_id"] = parent.value if parent else None
            if deleted is not None and deleted.value == 1 and not was_deleted:
                events.append(Event("flow.removed", row, payload))
            elif not old:
                events.append(Event("flow.added", row, payload))
            else:
                events.append(Event("flow.changed", row, payload))
    return events
