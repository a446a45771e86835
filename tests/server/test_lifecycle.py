"""Issue 18: money, priority and a lifecycle in the model. A product's unit price, a line's
own price (else its product's) and status, a pre-order's total (set, else the sum of its
lines) and priority; the status transitions REST writes must follow; every record's
integer version."""

from __future__ import annotations

import aiohttp

from crdt.schema import STATUS_TRANSITIONS
from tests.conftest import MakeTenant, Running
from tests.server.test_rest import API, api, rep


async def test_a_total_is_the_lines_sum_until_one_is_set(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    made = await carla.call(
        "POST", f"{API}/products", {"name": "Pears", "sku": "PE", "unit_price_cents": 250}
    )
    assert made.status == 201 and made.body["unit_price_cents"] == 250
    pears = made.body["id"]
    plums = await carla.create_product("Plums", "PL")  # no price
    order = await carla.new_order(
        partner,
        priority="high",
        flows=[
            {"product_id": pears, "quantity": 3},  # 750
            {"product_id": pears, "quantity": 1.5, "price_cents": 199},  # 298.5 -> 299
            {"product_id": pears, "quantity": 10, "status": "cancelled"},  # left out
            {"product_id": plums, "quantity": 4},  # no price: left out
        ],
    )
    assert order["priority"] == "high" and order["status"] == "pending"
    assert order["total_cents"] == 750 + 299
    by_status = {(f["quantity"], f["status"]): f for f in order["flows"]}
    assert by_status[(3, "open")]["price_cents"] == 250
    assert by_status[(1.5, "open")]["price_cents"] == 199
    assert by_status[(4, "open")]["price_cents"] is None
    for f in order["flows"]:
        assert f["version"] == 1 and f["etag"] == '"1"'
        assert f["updated_at"] is not None and f["updated_at"].endswith("Z")
    # The list answers the same documents.
    [listed] = [o for o in await carla.pages("", 50) if o["id"] == order["id"]]
    assert listed == order

    # A total set on the order wins over the lines' sum; the version counts the change.
    path = f"{API}/preorders/{order['id']}"
    set_total = await carla.patch(path, {"total_cents": 1234}, order["etag"])
    assert set_total.status == 200, set_total.body
    assert (set_total.body["total_cents"], set_total.body["version"]) == (1234, 2)

    # A line's own change moves the line's version, not the order's.
    line = by_status[(3, "open")]
    changed = await carla.patch(
        f"{path}/flows/{line['id']}", {"status": "confirmed", "price_cents": 300}, line["etag"]
    )
    assert changed.status == 200, changed.body
    [now] = [f for f in changed.body["flows"] if f["id"] == line["id"]]
    assert (now["status"], now["price_cents"], now["version"]) == ("confirmed", 300, 2)
    assert changed.body["version"] == 2


async def test_money_is_whole_cents_and_priority_a_known_one(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    order = await carla.new_order(partner)
    assert order["priority"] == "medium" and order["total_cents"] is None
    path = f"{API}/preorders/{order['id']}"
    for body in (
        {"total_cents": 12.5},
        {"total_cents": "1234"},
        {"total_cents": -1},
        {"total_cents": 10**13},
        {"priority": "urgent"},
        {"status": "draft"},
    ):
        refused = await carla.patch(path, body, order["etag"])
        assert refused.status == 422, (body, refused.body)
    assert (await carla.get(path)).body["version"] == 1  # nothing changed


async def test_rest_writes_follow_the_status_transitions(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    # Every (from, to) pair: allowed ones change the status, others are 409 and change
    # nothing; staying put is always allowed.
    for current, allowed in STATUS_TRANSITIONS.items():
        order = await carla.new_order(partner)
        path = f"{API}/preorders/{order['id']}"
        # Reach `current` through allowed steps (a shortest path from pending).
        for step in _path_to(current):
            moved = await carla.patch(path, {"status": step}, "*")
            assert moved.status == 200, (step, moved.body)
        assert (await carla.get(path)).body["status"] == current
        for wanted in STATUS_TRANSITIONS:
            before = (await carla.get(path)).body
            reply = await carla.patch(path, {"status": wanted}, before["etag"])
            if wanted == current or wanted in allowed:
                assert reply.status == 200, (current, wanted, reply.body)
                back = _path_to(current) if wanted != current else []
                if wanted != current:  # go back to `current` for the next pair
                    order = await carla.new_order(partner)
                    path = f"{API}/preorders/{order['id']}"
                    for step in back:
                        assert (await carla.patch(path, {"status": step}, "*")).status == 200
            else:
                assert reply.status == 409, (current, wanted, reply.body)
                assert reply.body["code"] == "invalid_transition"
                assert reply.body["allowed"] == list(allowed)
                assert (await carla.get(path)).body["version"] == before["version"]


async def test_a_reps_sync_is_not_held_to_the_transitions_but_counts_versions(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    """A merge takes whatever an honest replica wrote (two reps' concurrent edits could
    not both follow a rule checked against different states), so the rule is the REST
    API's; the version counts every change the server applies, whoever made it."""
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Nordic")
    order = await carla.new_order(partner)
    alice = rep(server, http, t, "alice")
    await alice.sync()
    alice.replica.edit_row("pre_orders", order["id"], {"status": "delivered"})
    await alice.sync()
    alice.replica.edit_row("pre_orders", order["id"], {"priority": "low", "total_cents": 99})
    await alice.sync()
    got = (await carla.get(f"{API}/preorders/{order['id']}")).body
    assert (got["status"], got["priority"], got["total_cents"]) == ("delivered", "low", 99)
    assert got["version"] == 3


def _path_to(status: str) -> list[str]:
    """The shortest list of allowed steps from pending to `status`."""
    queue: list[tuple[str, list[str]]] = [("pending", [])]
    seen = {"pending"}
    while queue:
        here, steps = queue.pop(0)
        if here == status:
            return steps
        for nxt in STATUS_TRANSITIONS[here]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, [*steps, nxt]))
    raise AssertionError(f"{status} is unreachable from pending")


def test_every_status_is_reachable_and_closed_is_final() -> None:
    for status in STATUS_TRANSITIONS:
        _path_to(status)
    assert STATUS_TRANSITIONS["closed"] == ()
