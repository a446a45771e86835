"""Who may write what: the one place the roles are enforced on data, for `/sync` and the
REST API alike (DESIGN.md, "Accounts").

    rep      pre-orders and their lines, every field; partners and products, but not
             deleting them (a rep meets a new customer offline and adds it); their own
             profile (name, email, avatar)
    manager  reads everything; writes a pre-order's status and priority, and their own
             profile
    admin    everything, every profile included

A message a caller may not write fails its whole request with 403 `forbidden_write` and the
message's index, before anything is stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from crdt.message import Message

from ..auth import Principal
from ..errors import Forbidden

PROFILE_FIELDS = ("name", "email", "avatar")


def may_write(who: Principal, dataset: str, row: str, column: str, value: object) -> bool:
    if who.role == "admin":
        return True
    if dataset == "profiles":
        return row == who.user_id and column in PROFILE_FIELDS
    if who.role == "manager":
        return dataset == "pre_orders" and column in ("status", "priority")
    if dataset in ("pre_orders", "pre_order_flows"):
        return True
    if dataset in ("partners", "products"):
        return not (column == "tombstone" and value == 1)
    return False


def why_not(who: Principal, dataset: str, column: str) -> str:
    if dataset == "profiles":
        return "only its owner (or an admin) changes a profile, and not its tombstone"
    if who.role == "manager":
        return "a manager changes only a pre-order's status and priority"
    return f"a {who.role} may not write {dataset}.{column} this way"


def check_writes(who: Principal, messages: Iterable[Message]) -> None:
    """Raise 403 `forbidden_write` at the first message `who` may not write."""
    check_fields(who, ((m.dataset, m.row, m.column, m.value) for m in messages))


def check_fields(who: Principal, fields: Iterable[tuple[str, str, str, object]]) -> None:
    """Raise 403 `forbidden_write` at the first field edit `who` may not make (its index)."""
    for i, (dataset, row, column, value) in enumerate(fields):
        if not may_write(who, dataset, row, column, value):
            raise Forbidden(
                f"message {i}: {why_not(who, dataset, column)}",
                code="forbidden_write",
                index=i,
            )
