"""Seed a realistic demo tenant through the real message path (so seeded data has
timestamps, merkle entries and history like any edit).

    python seed.py                      # the demo tenant, if the database has no tenant yet
    python seed.py --force --days 60    # another tenant, more days
    python seed.py --messages 1000000   # plus a large tenant: 1M messages over three years
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import random
import secrets
import time
import uuid
from dataclasses import dataclass

import asyncpg
import uuid_utils

from crdt.hlc import Clock, send
from crdt.message import Message, Scalar
from sync_server import database
from sync_server.auth import hash_password
from sync_server.storage import users as user_store
from sync_server.storage.apply import apply_messages

DEMO_PASSWORD = "recap-demo"
PARTNER_WORDS = [
    "Alpine",
    "Baltic",
    "Cedar",
    "Delta",
    "Evergreen",
    "Fjord",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lagoon",
    "Maple",
    "Nordic",
    "Orchard",
    "Pioneer",
    "Quarry",
    "Riverside",
    "Summit",
    "Tundra",
]
PARTNER_KINDS = ["Market", "Grocers", "Foods", "Bistro"]
PRODUCTS = [
    "Apples",
    "Pears",
    "Carrots",
    "Potatoes",
    "Onions",
    "Tomatoes",
    "Lettuce",
    "Cucumbers",
    "Leeks",
    "Beetroot",
    "Cabbage",
    "Spinach",
    "Kale",
    "Courgettes",
    "Peppers",
]
PRODUCT_GRADES = ["Organic", "Premium", "Standard", "Bulk"]


def new_id() -> str:
    return str(uuid_utils.uuid7())


@dataclass
class SeededUser:
    id: str
    email: str
    password: str
    role: str
    name: str = ""


class Stamper:
    """Messages from one seeding node, stamped with a real clock, each with the user it is
    sent on behalf of (`senders`, for `apply_messages`: a row's first sender is its
    creator)."""

    def __init__(self) -> None:
        self.clock = Clock.new(secrets.token_hex(8))
        self.messages: list[Message] = []
        self.senders: list[tuple[str | None, str | None]] = []

    def row(self, dataset: str, row: str, fields: dict[str, Scalar], by: str | None = None) -> None:
        for column, value in fields.items():
            self.clock, ts = send(self.clock, int(time.time() * 1000))
            self.messages.append(Message(dataset, row, column, value, str(ts)))
            self.senders.append((by, None))


async def create_tenant(
    conn: asyncpg.Connection, name: str, users: list[tuple[str, str, str, str]]
) -> tuple[str, list[SeededUser]]:
    """A tenant and its users: (email, display name, password, role)."""
    tenant_id = str(uuid.uuid4())
    await user_store.create_tenant(conn, tenant_id, name)
    out = []
    for email, display, password, role in users:
        user_id = new_id()
        await user_store.create_user(
            conn, user_id, tenant_id, email.lower(), display, hash_password(password), role
        )
        out.append(SeededUser(user_id, email.lower(), password, role, display))
    return tenant_id, out


def demo_stamper(
    rng: random.Random,
    days_back: int = 14,
    days_ahead: int = 14,
    partners: int = 40,
    products: int = 60,
    users: list[SeededUser] | None = None,
) -> Stamper:
    """The demo data: partners and products (by the admin, the last user), and orders
    with their lines each by one of the reps."""
    s = Stamper()
    # Prices, priorities, later statuses and creation times come from a second generator,
    # so the first one's sequence (which tests seed with a fixed value) is what it was.
    more = random.Random(18)
    now = datetime.datetime.now(datetime.UTC)
    reps: list[str | None] = [u.id for u in users or [] if u.role == "rep"] or [None]
    admin = users[-1].id if users else None
    partner_ids = []
    for i in range(partners):
        pid = new_id()
        word = PARTNER_WORDS[i % len(PARTNER_WORDS)]
        kind = PARTNER_KINDS[(i // len(PARTNER_WORDS)) % len(PARTNER_KINDS)]
        s.row(
            "partners",
            pid,
            {"name": f"{word} {kind}", "short_name": f"{word[:3].upper()}{i}"},
            by=admin,
        )
        partner_ids.append(pid)
    product_ids = []
    for i in range(products):
        pid = new_id()
        name = f"{PRODUCT_GRADES[i // len(PRODUCTS) % 4]} {PRODUCTS[i % len(PRODUCTS)]}"
        s.row(
            "products",
            pid,
            {
                "name": name,
                "sku": f"SKU-{1000 + i}",
                "unit_weight": round(rng.uniform(0.2, 12), 2),
                "unit_price_cents": more.randrange(40, 4_000, 5),
            },
            by=admin,
        )
        product_ids.append(pid)
    today, made = datetime.date.today(), 0
    for offset in range(-days_back, days_ahead + 1):
        day = today + datetime.timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for pid in rng.sample(partner_ids, k=min(len(partner_ids), rng.randint(6, 12))):
            order, rep = new_id(), reps[made % len(reps)]
            made += 1
            s.row(
                "pre_orders",
                order,
                {
                    "partner_id": pid,
                    "delivery_date": day.isoformat(),
                    "status": _later_status(more)
                    if offset < 0
                    else "confirmed"
                    if rng.random() < 0.3
                    else "pending",
                    "priority": more.choices(PRIORITY_MIX, PRIORITY_WEIGHTS)[0],
                    "created_at": _created_before(more, day, now),
                    "tombstone": 0,
                },
                by=rep,
            )
            for product in rng.sample(product_ids, k=rng.randint(1, 8)):
                quantity = rng.randint(1, 40)
                s.row(
                    "pre_order_flows",
                    new_id(),
                    {
                        "pre_order_id": order,
                        "product_id": product,
                        "quantity": quantity,
                        "weight": round(quantity * rng.uniform(0.5, 10), 1),
                        **_line_extras(more),
                        "tombstone": 0,
                    },
                    by=rep,
                )
    for user in users or []:
        # The profile's name and email are the user's display name and login email.
        s.row(
            "profiles", user.id, {"name": user.name or user.email, "email": user.email}, by=user.id
        )
    return s


PRIORITY_MIX = ("low", "medium", "high")
PRIORITY_WEIGHTS = (25, 55, 20)


def _later_status(more: random.Random) -> str:
    """A past delivery's status: mostly delivered or closed, some never got past
    confirmed, a few cancelled."""
    return more.choices(("delivered", "closed", "confirmed", "cancelled"), (45, 35, 12, 8))[0]


def _created_before(more: random.Random, day: datetime.date, now: datetime.datetime) -> str:
    """When an order for `day` was taken: 1 to 21 days before it, in working hours. An
    order for a day still to come was taken 1 to 21 days before today (not clamped to
    now, which gave every such order the seeding's second)."""
    taken = datetime.datetime.combine(
        min(day, now.date()) - datetime.timedelta(days=more.randint(1, 21)),
        datetime.time(more.randint(7, 17), more.randint(0, 59), more.randint(0, 59)),
        datetime.UTC,
    )
    return taken.strftime("%Y-%m-%dT%H:%M:%SZ")


def _line_extras(more: random.Random) -> dict[str, Scalar]:
    """Most lines take their product's price; some were negotiated, a few cancelled."""
    extras: dict[str, Scalar] = {"status": "open" if more.random() < 0.7 else "confirmed"}
    if more.random() < 0.12:
        extras["price_cents"] = more.randrange(30, 3_000, 5)
    if more.random() < 0.04:
        extras["status"] = "cancelled"
    return extras


async def apply_stamped(conn: asyncpg.Connection, tenant_id: str, stamped: Stamper) -> None:
    """Store a Stamper's messages through the product's apply path, in batches, each on
    behalf of its sender."""
    messages, senders = stamped.messages, stamped.senders
    for i in range(0, len(messages), 5000):
        await apply_messages(
            conn, tenant_id, None, messages[i : i + 5000], senders=senders[i : i + 5000]
        )


async def reserve_nodes(conn: asyncpg.Connection, messages: list[Message]) -> None:
    """The seed's nodes write no more, but their ids are on record: reserve them, as a
    server's own nodes are, so no device can claim them (DESIGN.md, "Node ids")."""
    for node in sorted({m.node for m in messages}):
        await user_store.reserve_server_node(conn, node)


async def seed_demo(
    conn: asyncpg.Connection, rng: random.Random, days: int = 14
) -> list[SeededUser]:
    suffix = "" if not await user_store.count_tenants(conn) else f"-{rng.randint(0, 9999)}"
    tenant_id, users = await create_tenant(
        conn,
        "Demo Produce Co",
        [
            (f"alice{suffix}@recap.example", "Alice Martin", DEMO_PASSWORD, "rep"),
            (f"bob{suffix}@recap.example", "Bob Chen", DEMO_PASSWORD, "rep"),
            (f"carla{suffix}@recap.example", "Carla Diaz", DEMO_PASSWORD, "admin"),
        ],
    )
    stamped = demo_stamper(rng, days, days, users=users)
    messages = stamped.messages
    await reserve_nodes(conn, messages)
    await apply_stamped(conn, tenant_id, stamped)
    print(f"seeded tenant {tenant_id}: {len(messages)} messages")
    for user in users:
        print(f"  login: {user.email} / {user.password} ({user.role})")
    return users


async def seed_if_empty(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        if await user_store.count_tenants(conn):
            print(f"database already seeded; demo logins use the password {DEMO_PASSWORD!r}")
            return
        await _with_codecs(conn)
        await seed_demo(conn, random.Random(42))
    finally:
        await conn.close()


async def seed_large(url: str, count: int) -> None:
    """A tenant with `count` messages stamped over the last three years (the benchmark
    history: reps creating and editing pre-orders and flows)."""
    from bench.history import history

    conn = await asyncpg.connect(url)
    try:
        await _with_codecs(conn)
        suffix = secrets.token_hex(3)
        tenant_id, users = await create_tenant(
            conn,
            f"Large {count:,}",
            [(f"large-{suffix}@recap.example", "Large Admin", DEMO_PASSWORD, "admin")],
        )
        end = int(time.time() * 1000) - 60_000
        batch: list[Message] = []
        for message in history(count, end - 3 * 365 * 86_400_000, end, seed=7):
            batch.append(message)
            if len(batch) == 10_000:
                await reserve_nodes(conn, batch)
                await apply_messages(conn, tenant_id, users[0].id, batch)
                batch = []
        await reserve_nodes(conn, batch)
        await apply_messages(conn, tenant_id, users[0].id, batch)
        print(
            f"seeded tenant {tenant_id} with {count:,} messages; "
            f"login: {users[0].email} / {DEMO_PASSWORD}"
        )
    finally:
        await conn.close()


async def _with_codecs(conn: asyncpg.Connection) -> None:
    from sync_server.database import _init_connection

    await _init_connection(conn)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--force", action="store_true", help="seed another tenant even if one exists"
    )
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument(
        "--messages",
        type=int,
        default=0,
        help="also seed a large tenant with this many messages (about 150k rows per 1M)",
    )
    args = parser.parse_args()
    from sync_server.settings import Settings

    settings = Settings.from_env()
    url = settings.database_url or database.embedded_url(settings.data_dir)
    database.migrate(url)
    if not args.force:
        await seed_if_empty(url)
        if args.messages:
            await seed_large(url, args.messages)
        return
    conn = await asyncpg.connect(url)
    try:
        await _with_codecs(conn)
        await seed_demo(conn, random.Random(), args.days)
    finally:
        await conn.close()
    if args.messages:
        await seed_large(url, args.messages)


if __name__ == "__main__":
    asyncio.run(main())
