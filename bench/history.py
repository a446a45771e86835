"""Synthetic, realistic tenant histories with explicit timestamps: pre-orders and flows
created and edited by a few reps over a span of time (about 6-7 messages per row)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

from crdt.message import Message
from crdt.timestamp import Timestamp

REP_NODES = [f"{i:016x}" for i in range(0xA1, 0xA9)]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def history(
    count: int, start_ms: int, end_ms: int, seed: int = 1, nodes: list[str] | None = None
) -> Iterator[Message]:
    """About `count` messages stamped evenly over [start_ms, end_ms), in timestamp order."""
    rng = random.Random(seed)
    nodes = nodes or REP_NODES
    step = max(1, (end_ms - start_ms) // max(count, 1))
    clock: dict[str, int] = {"t": start_ms, "c": 0, "n": 0}

    def stamp() -> str:
        clock["n"] += 1
        t = start_ms + clock["n"] * step + rng.randrange(step) // 2
        if t <= clock["t"]:
            clock["c"] += 1
        else:
            clock["t"], clock["c"] = t, 0
        return str(Timestamp(clock["t"], clock["c"], rng.choice(nodes)))

    partners = [_uuid(rng) for _ in range(40)]
    products = [_uuid(rng) for _ in range(60)]
    emitted = 0
    for i, pid in enumerate(partners):
        for col, val in (("name", f"Partner {i}"), ("short_name", f"P{i}"), ("tombstone", 0)):
            yield Message("partners", pid, col, val, stamp())
            emitted += 1
    for i, pid in enumerate(products):
        for col, val in (("name", f"Product {i}"), ("sku", f"SKU-{i}"), ("tombstone", 0)):
            yield Message("products", pid, col, val, stamp())
            emitted += 1
    orders: list[str] = []
    flows: list[str] = []
    day0 = 19_000
    while emitted < count:
        r = rng.random()
        if r < 0.15 or not orders:
            oid = _uuid(rng)
            day = day0 + clock["t"] // 86_400_000 - 19_000 + rng.randrange(-3, 10)
            date = _date(day)
            fields: dict[str, str | int] = {
                "partner_id": rng.choice(partners),
                "delivery_date": date,
                "status": "pending",
                "created_at": "2025-01-01T00:00:00Z",
                "tombstone": 0,
            }
            for col, val in fields.items():
                yield Message("pre_orders", oid, col, val, stamp())
            orders.append(oid)
            emitted += 5
        elif r < 0.5:
            fid = _uuid(rng)
            fields = {
                "pre_order_id": rng.choice(orders[-200:]),
                "product_id": rng.choice(products),
                "quantity": rng.randrange(1, 50),
                "weight": rng.randrange(1, 500),
                "tombstone": 0,
            }
            for col, val in fields.items():
                yield Message("pre_order_flows", fid, col, val, stamp())
            flows.append(fid)
            emitted += 5
        elif r < 0.85 and flows:
            yield Message(
                "pre_order_flows",
                rng.choice(flows[-2000:]),
                "quantity",
                rng.randrange(1, 50),
                stamp(),
            )
            emitted += 1
        elif r < 0.95:
            yield Message(
                "pre_orders",
                rng.choice(orders[-500:]),
                "status",
                rng.choice(["pending", "confirmed"]),
                stamp(),
            )
            emitted += 1
        elif flows:
            yield Message("pre_order_flows", rng.choice(flows[-2000:]), "tombstone", 1, stamp())
            emitted += 1


def _date(days_since_epoch: int) -> str:
    import datetime

    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=days_since_epoch)).isoformat()
