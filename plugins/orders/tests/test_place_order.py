"""Placing orders: from the cart or from items, all or nothing."""

from __future__ import annotations

from commerce_orders.models import MailOutboxRow
from sqlalchemy import select


async def _fill_cart(client, *lines):
    for product, quantity in lines:
        r = await client.post("/api/cart/", json={"product_id": product.id, "quantity": quantity})
        assert r.status_code == 201, r.text


async def test_order_from_the_cart_takes_stock_and_empties_the_cart(
    kernel, customer, make_product, product_state, run_tasks, mailbox
):
    a = await make_product(price="19.99", stock=5, name="Lamp")
    b = await make_product(price="5.00", stock=3, name="Bulb")
    await _fill_cart(customer.client, (a, 2), (b, 3))

    r = await customer.client.post("/api/orders/")
    assert r.status_code == 201, r.text
    order = r.json()
    assert r.headers["location"] == f"/api/orders/{order['id']}/"
    assert order["status"] == "pending"
    assert order["items"] == [
        {
            "product_id": a.id,
            "sku": a.sku,
            "name": "Lamp",
            "unit_price": "19.99",
            "quantity": 2,
            "line_total": "39.98",
        },
        {
            "product_id": b.id,
            "sku": b.sku,
            "name": "Bulb",
            "unit_price": "5.00",
            "quantity": 3,
            "line_total": "15.00",
        },
    ]
    assert (order["subtotal"], order["total"], order["adjustments"]) == ("54.98", "54.98", [])
    assert order["currency"] == "USD"
    assert order["created_at"].endswith("Z")

    assert await product_state(a.id) == (3, 2)
    assert await product_state(b.id) == (0, 3)
    assert (await customer.client.get("/api/cart/")).json()["items"] == []
    assert (await customer.client.get(f"/api/orders/{order['id']}/")).json() == order

    await run_tasks()
    assert len(mailbox) == 1
    assert mailbox[0]["To"] == "customer@example.com"
    assert f"#{order['id']}" in mailbox[0]["Subject"]
    assert mailbox[0]["Message-ID"].startswith(f"<order-{order['id']}-mail-")


async def test_order_from_items_leaves_the_cart_alone(customer, make_product, product_state):
    a = await make_product(price="2.00", stock=10)
    b = await make_product(price="3.00", stock=10)
    await _fill_cart(customer.client, (a, 1))
    r = await customer.client.post(
        "/api/orders/",
        json={"items": [{"product_id": b.id, "quantity": 2}, {"product_id": b.id, "quantity": 1}]},
    )
    assert r.status_code == 201, r.text
    assert [(i["product_id"], i["quantity"]) for i in r.json()["items"]] == [(b.id, 3)]
    assert r.json()["total"] == "9.00"
    assert await product_state(b.id) == (7, 3)
    cart = (await customer.client.get("/api/cart/")).json()
    assert [(i["product_id"], i["quantity"]) for i in cart["items"]] == [(a.id, 1)]


async def test_empty_cart_is_409(customer, counts):
    r = await customer.client.post("/api/orders/")
    assert r.status_code == 409
    assert "empty" in r.json()["detail"]
    assert await counts() == {"orders": 0, "outbox": 0}


async def test_shortfall_is_409_naming_the_lines_and_leaves_nothing_behind(
    customer, make_product, product_state, counts
):
    plenty = await make_product(stock=10)
    scarce = await make_product(stock=2)
    await _fill_cart(customer.client, (plenty, 3), (scarce, 2))
    # Someone else buys one of the scarce units after it went into this cart.
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": scarce.id, "quantity": 1}]}
    )
    assert r.status_code == 201
    before = (await customer.client.get("/api/cart/")).json()

    r = await customer.client.post("/api/orders/")
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["lines"] == [{"product_id": scarce.id, "requested": 2, "available": 1}]
    assert await product_state(plenty.id) == (10, 0)  # its allocation was rolled back
    assert await product_state(scarce.id) == (1, 1)
    assert (await customer.client.get("/api/cart/")).json() == before
    assert await counts() == {"orders": 1, "outbox": 1}


async def test_unknown_or_retired_product_is_404(customer, make_product, counts):
    retired = await make_product(is_active=False)
    live = await make_product()
    for pid in (retired.id, 987_654, 2**40):
        r = await customer.client.post(
            "/api/orders/",
            json={
                "items": [
                    {"product_id": live.id, "quantity": 1},
                    {"product_id": pid, "quantity": 1},
                ]
            },
        )
        assert r.status_code == 404, r.text
        assert r.json()["product_ids"] == [pid]
    assert await counts() == {"orders": 0, "outbox": 0}


async def test_bad_quantities_and_empty_items_are_422(customer, make_product):
    p = await make_product()
    for body in (
        {"items": [{"product_id": p.id, "quantity": 0}]},
        {"items": [{"product_id": p.id, "quantity": -2}]},
        {"items": []},
        {"items": [{"product_id": p.id}]},
    ):
        r = await customer.client.post("/api/orders/", json=body)
        assert r.status_code == 422, (body, r.text)


async def test_admin_token_cannot_place_orders(admin, client):
    assert (await admin.client.post("/api/orders/", json={})).status_code == 403
    assert (await client.post("/api/orders/", json={})).status_code == 401


async def test_outbox_row_is_written_with_the_order(kernel, customer, make_product):
    p = await make_product()
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 1}]}
    )
    async with kernel.db.session() as session:
        rows = (await session.execute(select(MailOutboxRow))).scalars().all()
    assert [(row.order_id, row.kind) for row in rows] == [(r.json()["id"], "order_placed")]


async def test_openapi_documents_orders(client):
    doc = (await client.get("/api/openapi.json")).json()
    post = doc["paths"]["/api/orders/"]["post"]
    assert {"200", "201", "404", "409", "422"} <= set(post["responses"])
    assert "Idempotency-Key" in post["description"]
    assert "409" in doc["paths"]["/api/orders/{id}/"]["patch"]["responses"]


async def test_a_total_past_what_the_money_columns_hold_is_refused_not_rounded(
    customer, make_product, product_state
):
    p = await make_product(price="999999999999.99", stock=1_000_000)
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 1_000_000}]}
    )
    assert r.status_code == 422, r.text
    assert "largest amount" in r.json()["detail"]
    assert await product_state(p.id) == (1_000_000, 0)  # nothing taken
    ok = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 1}]}
    )
    assert ok.status_code == 201 and ok.json()["total"] == "999999999999.99"
    again = await customer.client.get(f"/api/orders/{ok.json()['id']}/")
    assert again.json()["total"] == "999999999999.99"  # stored exactly
