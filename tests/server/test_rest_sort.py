"""Issue 19, the dashboard: `GET /api/v1/preorders` sorts and searches on the server, across
all pages (`sort`, `order`, `q`), with cursors that belong to their sort."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tests.conftest import MakeTenant, Running
from tests.server.test_rest import API, Api, api, rep

KEYS: dict[str, Callable[[Any], str]] = {
    "created_at": lambda d: d["created_at"] or "",
    "delivery_date": lambda d: d["delivery_date"] or "",
    "partner": lambda d: (d["partner_name"] or "").lower(),
    "status": lambda d: d["status"] or "",
    "creator": lambda d: (d["created_by_name"] or "").lower(),
}


async def seed(carla: Api, server: Running, http: aiohttp.ClientSession, t: Any) -> list[str]:
    """25 pre-orders written as a device would: partners whose names differ in case only by
    their first letter, one with a LIKE wildcard, ties on every sort key, and orders
    without a partner, a status, a date or a creation time; made by Alice, Bob and, through
    the REST API, Carla."""
    names = ["alpha", "Bravo", "charlie", "Delta 50%", "bravo two"]
    partners = [await carla.create_partner(n) for n in names]
    alice, bob = rep(server, http, t, "alice"), rep(server, http, t, "bob")
    ids = []
    for i in range(25):
        order = str(uuid.uuid4())
        fields: dict[str, Any] = {"tombstone": 0}
        if i % 7 != 6:
            fields["partner_id"] = partners[i % len(partners)]
        if i % 9 != 8:
            fields["status"] = ("pending", "confirmed")[i % 2]
        if i % 11 != 10:
            fields["delivery_date"] = f"2026-11-{20 + i % 4}"
        if i % 13 != 12:
            fields["created_at"] = f"2026-01-01T00:00:{i // 2:02d}Z"
        (alice, bob)[i % 3 == 0].replica.edit_row("pre_orders", order, fields)
        ids.append(order)
    await alice.sync()
    await bob.sync()
    ids.append((await carla.new_order(partners[0]))["id"])
    return ids


async def walk(carla: Api, query: str, limit: int) -> list[Any]:
    items = await carla.pages(query, limit)
    assert len({d["id"] for d in items}) == len(items), "a row came twice"
    return items


async def test_every_sort_pages_as_sorting_everything(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    ids = await seed(carla, server, http, t)
    everything = await walk(carla, "", 200)
    assert sorted(d["id"] for d in everything) == sorted(ids)
    for sort, key in KEYS.items():
        for order in ("asc", "desc"):
            expected = sorted(everything, key=lambda d: (key(d), d["id"]), reverse=order == "desc")
            for limit in (4, 7):
                got = await walk(carla, f"&sort={sort}&order={order}", limit)
                assert [d["id"] for d in got] == [d["id"] for d in expected], (sort, order, limit)
    # The default is created_at, newest first.
    assert [d["id"] for d in everything] == [
        d["id"]
        for d in sorted(everything, key=lambda d: (KEYS["created_at"](d), d["id"]), reverse=True)
    ]


async def test_search_by_partner_name(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    await seed(carla, server, http, t)
    everything = await walk(carla, "", 200)
    for q, names in (
        ("BRAVO", {"Bravo", "bravo two"}),
        ("ha", {"alpha", "charlie"}),
        ("50%", {"Delta 50%"}),
        ("%", {"Delta 50%"}),
        ("_", set()),
    ):
        expected = [d["id"] for d in everything if d["partner_name"] in names]
        assert expected or not names
        got = await walk(carla, f"&q={q.replace('%', '%25')}", 3)
        assert [d["id"] for d in got] == expected, q
        # With a sort and another filter too.
        got = await walk(carla, f"&q={q.replace('%', '%25')}&sort=partner&order=asc", 2)
        assert {d["id"] for d in got} == set(expected), q
        pending = await walk(carla, f"&q={q.replace('%', '%25')}&status=pending", 2)
        want = [
            d["id"] for d in everything if d["partner_name"] in names and d["status"] == "pending"
        ]
        assert [d["id"] for d in pending] == want, q


@pytest.mark.parametrize("query", ["sort=name", "order=up", "sort=", f"q={'x' * 101}", "q=a%00b"])
async def test_bad_sort_or_search_is_422(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant, query: str
) -> None:
    carla = api(server, http, await make_tenant())
    reply = await carla.get(f"{API}/preorders?{query}")
    assert reply.status == 422, reply.body


async def test_a_cursor_is_refused_with_another_sort(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    await seed(carla, server, http, t)
    combos = ["", "&sort=partner&order=asc", "&sort=partner", "&sort=status&order=asc"]
    cursors = {}
    for combo in combos:
        page = await carla.get(f"{API}/preorders?limit=3{combo}")
        assert page.status == 200, page.body
        cursors[combo] = page.body["next_cursor"]
        assert cursors[combo]
    for made in combos:
        for used in combos:
            reply = await carla.get(f"{API}/preorders?limit=3{used}&cursor={cursors[made]}")
            if made == used:
                assert reply.status == 200, reply.body
            else:
                assert reply.status == 400, (made, used, reply.body)
                assert reply.body["code"] == "bad_request"


# -- CSV export ----------------------------------------------------------------------------
async def export(carla: Api, query: str) -> tuple[int, str, Any]:
    url = f"{carla.base}{API}/preorders.csv?{query}"
    async with carla.http.get(url, headers={"Authorization": f"Bearer {carla.token}"}) as resp:
        return resp.status, await resp.text(), resp.headers


async def test_csv_export_is_every_row_of_the_filters_and_sort(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    import csv
    import io

    t = await make_tenant()
    carla = api(server, http, t)
    await seed(carla, server, http, t)
    hostile = await carla.create_partner("=HYPERLINK(1)")
    with_lines = await carla.new_order(
        hostile,
        flows=[
            {"product_id": await carla.create_product("Pears", "PE"), "quantity": 3, "weight": 1.5},
            {"product_id": await carla.create_product("Plums", "PL"), "quantity": 4},
        ],
    )
    for query in ("", "sort=partner&order=asc", "q=bravo&sort=status", "status=pending&q=a"):
        status, text, headers = await export(carla, query)
        assert status == 200, text
        assert headers["Content-Type"].startswith("text/csv")
        assert headers["Content-Disposition"] == "attachment; filename=preorders.csv"
        header, *rows = list(csv.reader(io.StringIO(text)))
        assert header == [
            "id",
            "created_at",
            "delivery_date",
            "partner_id",
            "partner_name",
            "status",
            "created_by_name",
            "lines",
            "quantity",
            "weight",
        ]
        listed = await walk(carla, f"&{query}", 7)
        assert [r[0] for r in rows] == [d["id"] for d in listed], query
        for row, doc in zip(rows, listed, strict=True):
            assert row[2] == (doc["delivery_date"] or "")
            assert row[5] == (doc["status"] or "")
            assert row[6] == (doc["created_by_name"] or "")
            assert int(row[7]) == len(doc["flows"])
    _, text, _ = await export(carla, "")
    [row] = [r for r in csv.reader(io.StringIO(text)) if r[0] == with_lines["id"]]
    assert row[4] == "'=HYPERLINK(1)"  # not a formula in a spreadsheet
    assert (row[7], float(row[8]), float(row[9])) == ("2", 7.0, 1.5)


async def test_csv_export_refuses_more_than_its_bound(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sync_server.api import preorders

    t = await make_tenant()
    carla = api(server, http, t)
    made = len(await seed(carla, server, http, t))
    monkeypatch.setattr(preorders, "EXPORT_MAX", made)
    status, text, _ = await export(carla, "")
    assert status == 200 and len(text.strip().splitlines()) == made + 1
    monkeypatch.setattr(preorders, "EXPORT_MAX", made - 1)
    status, text, _ = await export(carla, "")
    assert status == 422, text
    assert (await export(carla, "sort=nope"))[0] == 422


async def test_the_creator_is_who_first_wrote_the_order_whoever_edits_it_later(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    t = await make_tenant()
    carla = api(server, http, t)
    partner = await carla.create_partner("Orchard")
    alice, bob = rep(server, http, t, "alice"), rep(server, http, t, "bob")
    order = str(uuid.uuid4())
    alice.replica.edit_row("pre_orders", order, {"partner_id": partner, "status": "pending"})
    await alice.sync()
    await bob.sync()
    bob.replica.edit_row("pre_orders", order, {"status": "confirmed", "tombstone": 0})
    await bob.sync()
    by_rest = await carla.new_order(partner)
    assert by_rest["created_by"] == t.user_id("carla")
    assert by_rest["created_by_name"] == "Carla"
    got = (await carla.get(f"{API}/preorders/{order}")).body
    assert (got["status"], got["created_by"], got["created_by_name"]) == (
        "confirmed",
        t.user_id("alice"),
        "Alice",
    )
    listed = {d["id"]: d for d in await carla.pages("", 50)}
    assert listed[order]["created_by_name"] == "Alice"
    assert listed[by_rest["id"]]["created_by"] == t.user_id("carla")
