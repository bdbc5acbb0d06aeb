"""Whose order it is: every view names the customer, and admins filter the list by customer
and by date (UTC, RFC 3339) as well as by status, one SQL statement and a count per page."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from commerce_orders import api
from commerce_orders.models import Order
from sqlalchemy import event, update


async def _order(client, *lines):
    r = await client.post(
        "/api/orders/",
        json={"items": [{"product_id": p.id, "quantity": q} for p, q in lines]},
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def placed_at(kernel: Any) -> Any:
    """`await placed_at(order_id, "2026-05-01T10:00:00")`: when the order was placed (UTC)."""

    async def move(order_id: int, when: str) -> None:
        moment = datetime.fromisoformat(when).replace(tzinfo=UTC)
        async with kernel.db.transaction() as session:
            await session.execute(
                update(Order).where(Order.id == order_id).values(created_at=moment)
            )

    return move


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextlib.contextmanager
def statements(kernel: Any) -> Iterator[list[str]]:
    """Every SQL statement the kernel's engine sends while the block runs, transaction
    control (SQLite's `BEGIN IMMEDIATE`) left out."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            seen.append(statement)

    engines = [engine.sync_engine for engine in kernel.db.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["results"]]


async def test_every_view_of_an_order_names_its_customer(customer, admin, make_product):
    me = {"id": customer.id, "email": "customer@example.com"}
    placed = await _order(customer.client, (await make_product(), 1))
    assert placed["customer"] == me
    path = f"/api/orders/{placed['id']}/"

    assert (await customer.client.get(path)).json()["customer"] == me
    assert (await customer.client.get("/api/orders/")).json()["results"][0]["customer"] == me
    assert (await admin.client.get(path)).json()["customer"] == me
    assert (await admin.client.get("/api/orders/")).json()["results"][0]["customer"] == me
    paid = await admin.client.patch(path, json={"status": "paid"})
    assert paid.status_code == 200 and paid.json()["customer"] == me
    # An Idempotency-Key retry answers the same order, customer included.
    first = await customer.client.post(
        "/api/orders/",
        json={"items": [{"product_id": placed["items"][0]["product_id"], "quantity": 1}]},
        headers={"Idempotency-Key": "k-1"},
    )
    again = await customer.client.post(
        "/api/orders/",
        json={"items": [{"product_id": placed["items"][0]["product_id"], "quantity": 1}]},
        headers={"Idempotency-Key": "k-1"},
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and again.json()["customer"] == me


async def test_admins_filter_orders_by_customer_id_and_email(admin, make_customer, make_product):
    p = await make_product(stock=50)
    zoe = await make_customer("zoë@bücher.example")
    sam = await make_customer("sam@example.com")
    async with zoe.client, sam.client:
        zoes = [await _order(zoe.client, (p, 1)) for _ in range(2)]
        sams = await _order(sam.client, (p, 1))

    async def listed(query: str) -> list[int]:
        return ids(await admin.client.get(f"/api/orders/?{query}"))

    assert await listed(f"customer_id={zoe.id}") == [zoes[1]["id"], zoes[0]["id"]]
    assert await listed(f"customer_id={sam.id}") == [sams["id"]]
    # Any spelling of the address finds the account: case, Unicode form, IDNA.
    for spelling in (
        "zoë@bücher.example",
        " ZOË@Bücher.EXAMPLE ",
        "zoe\u0308@bu\u0308cher.example",  # decomposed (NFD)
        "zoë@xn--bcher-kva.example",
    ):
        found = await admin.client.get("/api/orders/", params={"customer_email": spelling})
        assert ids(found) == [zoes[1]["id"], zoes[0]["id"]], spelling
        assert found.json()["count"] == 2
        assert {o["customer"]["id"] for o in found.json()["results"]} == {zoe.id}
    # A look-alike is another address; what is no address matches nobody.
    for nobody in ("zoe@bucher.example", "nobody@example.com", "not an address"):
        found = await admin.client.get("/api/orders/", params={"customer_email": nobody})
        assert found.json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert await listed("customer_id=999999") == []
    assert await listed(f"customer_id={2**40}") == []
    assert await listed(f"customer_id={zoe.id}&customer_email=sam@example.com") == []
    assert (await admin.client.get("/api/orders/?customer_id=0")).status_code == 422
    assert (await admin.client.get("/api/orders/?customer_id=zoe")).status_code == 422

    await admin.client.patch(f"/api/orders/{zoes[0]['id']}/", json={"status": "paid"})
    assert await listed(f"customer_id={zoe.id}&status=paid") == [zoes[0]["id"]]
    assert await listed("customer_email=sam@example.com&status=paid") == []


async def test_customers_cannot_list_other_customers_orders_through_the_filters(
    customer, make_customer, make_product
):
    p = await make_product(stock=10)
    mine = await _order(customer.client, (p, 1))
    other = await make_customer("other@example.com")
    async with other.client:
        await _order(other.client, (p, 1))
        for query in (
            {"customer_id": customer.id},
            {"customer_email": "customer@example.com"},
            {"customer_id": other.id},  # even their own id: the filters are admins'
        ):
            r = await other.client.get("/api/orders/", params=query)
            assert r.status_code == 403, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert "admins" in r.json()["detail"]
            assert "results" not in r.json()
    # Status and dates narrow a customer's own list, never widen it.
    r = await customer.client.get(
        "/api/orders/", params={"status": "pending", "created_after": "2000-01-01T00:00:00Z"}
    )
    assert ids(r) == [mine["id"]]


async def test_date_filters_take_rfc_3339_instants_in_any_offset(
    admin, customer, make_product, placed_at
):
    p = await make_product(stock=10)
    orders = [await _order(customer.client, (p, 1)) for _ in range(4)]
    # Stored in UTC: 09:59:59, 10:00:00, 10:30:00 and 11:00:00 on 2026-05-01.
    for order, when in zip(
        orders,
        ["2026-05-01T09:59:59", "2026-05-01T10:00:00", "2026-05-01T10:30:00", "2026-05-01T11:00"],
        strict=True,
    ):
        await placed_at(order["id"], when)
    first, ten, half_past, eleven = (o["id"] for o in orders)

    async def listed(**query: str) -> list[int]:
        return ids(await admin.client.get("/api/orders/", params=query))

    # `created_after` includes its instant, `created_before` excludes it: ranges tile.
    assert await listed(created_after="2026-05-01T10:00:00Z") == [eleven, half_past, ten]
    assert await listed(created_before="2026-05-01T10:00:00Z") == [first]
    assert await listed(
        created_after="2026-05-01T10:00:00Z", created_before="2026-05-01T11:00:00Z"
    ) == [half_past, ten]
    # The same instants in other offsets and spellings.
    assert await listed(created_after="2026-05-01T12:00:00+02:00") == [eleven, half_past, ten]
    assert await listed(created_before="2026-05-01T05:00:00-05:00") == [first]
    assert await listed(created_after="2026-05-01t10:30:00z") == [eleven, half_past]
    assert await listed(created_after="2026-05-01 10:30:00Z") == [eleven, half_past]
    # Fractions of a second count.
    assert await listed(created_after="2026-05-01T10:00:00.000001Z") == [eleven, half_past]
    assert await listed(created_before="2026-05-01T10:00:00.000001Z") == [ten, first]
    # An unescaped `+` arrives as a space; it still means the offset.
    r = await admin.client.get("/api/orders/?created_after=2026-05-01T12:00:00+02:00")
    assert ids(r) == [eleven, half_past, ten]
    # The times answered are the stored UTC ones.
    shown = (await admin.client.get(f"/api/orders/{ten}/")).json()
    assert shown["created_at"] == "2026-05-01T10:00:00Z"
    # Combined with status and customer.
    await admin.client.patch(f"/api/orders/{half_past}/", json={"status": "paid"})
    assert await listed(created_after="2026-05-01T10:00:00Z", status="paid") == [half_past]
    assert await listed(
        created_after="2026-05-01T10:00:00Z", customer_email="customer@example.com"
    ) == [eleven, half_past, ten]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("2026-05-01", "RFC 3339"),  # a date is no instant
        ("2026-05-01T10:00:00", "RFC 3339"),  # no offset: which 10 o'clock?
        ("1777629600", "RFC 3339"),  # a Unix time
        ("yesterday", "RFC 3339"),
        ("2026-05-01T10:00:00+2", "RFC 3339"),
        ("", "RFC 3339"),
        ("2026-13-01T00:00:00Z", "datetime"),
        ("2026-05-01T25:00:00Z", "datetime"),
    ],
)
async def test_a_timestamp_that_is_not_rfc_3339_is_422(admin, value, said):
    for name in ("created_after", "created_before"):
        r = await admin.client.get("/api/orders/", params={name: value})
        assert r.status_code == 422, (name, value, r.text)
        assert r.json()["errors"][0]["loc"] == ["query", name]
        assert said in r.json()["errors"][0]["msg"]


async def test_an_admin_page_is_one_statement_plus_the_count(
    kernel, admin, make_customer, make_product, run_tasks
):
    products = [await make_product(stock=100) for _ in range(3)]
    placed: dict[int, dict[str, Any]] = {}
    for n in range(4):
        buyer = await make_customer(f"buyer{n}@example.com")
        async with buyer.client:
            for k in range(3):
                order = await _order(buyer.client, *((p, k + 1) for p in products[: k + 1]))
                placed[order["id"]] = order
    newest_first = sorted(placed, reverse=True)
    await run_tasks()  # the confirmation mails, sent now rather than during the counting

    # The service: a count and one query, whatever the page size and however many lines.
    for limit in (1, 5, 100):
        with statements(kernel) as sent:
            count, page = await api.list_orders(
                kernel, account_id=None, status=None, offset=0, limit=limit
            )
        assert len(sent) == 2, sent
        assert count == 12
        assert [o["id"] for o in page] == newest_first[:limit]
        assert page == [placed[o["id"]] for o in page]  # lines, totals and customer intact

    # Over HTTP, with every filter: still two statements on the orders tables (the others
    # are the admin token's checks), and pages hold whole orders, never a cut-off line list.
    query = {
        "customer_email": "buyer2@example.com",
        "status": "pending",
        "created_after": "2000-01-01T00:00:00Z",
        "created_before": "2100-01-01T00:00:00Z",
    }
    for page_size in (1, 2, 20):
        with statements(kernel) as sent:
            r = await admin.client.get("/api/orders/", params={**query, "page_size": page_size})
        on_orders = [s for s in sent if "orders" in s or "order_lines" in s]
        assert len(on_orders) == 2, on_orders
        assert r.json()["count"] == 3
        shown = r.json()["results"]
        assert shown == [placed[o["id"]] for o in shown]
        assert {o["customer"]["email"] for o in shown} == {"buyer2@example.com"}
    paged: list[int] = []
    for n in (1, 2, 3):
        paged += ids(await admin.client.get("/api/orders/", params={"page": n, "page_size": 5}))
    assert paged == newest_first


async def test_openapi_documents_the_customer_and_the_filters(client):
    doc = (await client.get("/api/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert "customer" in schemas["OrderOut"]["required"]
    assert set(schemas["CustomerOut"]["properties"]) == {"id", "email"}

    listing = doc["paths"]["/api/orders/"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert {"status", "customer_id", "customer_email", "created_after", "created_before"} <= set(
        params
    )
    for name in ("created_after", "created_before"):
        assert params[name]["in"] == "query" and not params[name]["required"]
        formats = [s.get("format") for s in params[name]["schema"].get("anyOf", [])]
        assert "date-time" in formats, params[name]
        assert "RFC 3339" in params[name]["description"]
    assert "Admins only" in params["customer_id"]["description"]
    assert {"403", "422"} <= set(listing["responses"])

    post = doc["paths"]["/api/orders/"]["post"]
    header = [p for p in post["parameters"] if p["in"] == "header"]
    assert [(p["name"], p["required"], p["schema"]) for p in header] == [
        ("Idempotency-Key", False, {"type": "string"})
    ]
    assert "Retry-After" in header[0]["description"]
