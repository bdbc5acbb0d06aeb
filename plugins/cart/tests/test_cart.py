"""The cart: adding, merging, changing, removing lines; stock and ownership rules."""

from __future__ import annotations

import asyncio

from commerce_cart.models import CartItem
from commerce_catalog.api import Product
from sqlalchemy import func, select


async def test_empty_cart(customer):
    r = await customer.client.get("/api/cart/")
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "items_count": 0, "subtotal": "0.00", "currency": "USD"}


async def test_add_then_add_again_merges_into_one_line(customer, make_product):
    p = await make_product(price="19.99", stock=5)
    r = await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 2})
    assert r.status_code == 201, r.text
    item = r.json()
    assert item == {
        "id": item["id"],
        "product_id": p.id,
        "sku": p.sku,
        "name": p.name,
        "unit_price": "19.99",
        "quantity": 2,
        "line_total": "39.98",
    }
    r = await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 1})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == item["id"]
    assert r.json()["quantity"] == 3

    other = await make_product(price="0.50", stock=9)
    await customer.client.post("/api/cart/", json={"product_id": other.id, "quantity": 1})
    cart = (await customer.client.get("/api/cart")).json()
    assert [i["quantity"] for i in cart["items"]] == [3, 1]
    assert cart["items_count"] == 4
    assert cart["subtotal"] == "60.47"


async def test_cart_shows_the_current_catalog_price(kernel, customer, make_product):
    p = await make_product(price="5.00")
    await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 2})
    async with kernel.db.transaction() as session:
        (await session.get(Product, p.id)).price = 7
    cart = (await customer.client.get("/api/cart/")).json()
    assert cart["items"][0]["unit_price"] == "7.00"
    assert cart["subtotal"] == "14.00"


async def test_unknown_or_inactive_product_is_404(customer, make_product):
    retired = await make_product(is_active=False)
    for pid in (retired.id, 999_999, 2**40):
        r = await customer.client.post("/api/cart/", json={"product_id": pid, "quantity": 1})
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == "application/problem+json"


async def test_quantity_below_one_is_422(customer, make_product):
    p = await make_product()
    for q in (0, -1):
        r = await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": q})
        assert r.status_code == 422
        assert r.json()["errors"][0]["loc"] == ["body", "quantity"]
    r = await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 1})
    r = await customer.client.patch(f"/api/cart/{r.json()['id']}/", json={"quantity": 0})
    assert r.status_code == 422


async def test_more_than_in_stock_is_409_counting_what_is_already_in_the_cart(
    customer, make_product
):
    p = await make_product(stock=3)
    r = await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 4})
    assert r.status_code == 409
    assert r.json()["available"] == 3
    r = await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 2})
    assert r.status_code == 201
    r = await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 2})
    assert r.status_code == 409
    assert r.json()["requested"] == 4
    cart = (await customer.client.get("/api/cart/")).json()
    assert cart["items_count"] == 2  # the refused add changed nothing
    r = await customer.client.patch(f"/api/cart/{cart['items'][0]['id']}/", json={"quantity": 4})
    assert r.status_code == 409


async def test_patch_and_delete_a_line(customer, make_product):
    p = await make_product(price="2.50", stock=10)
    item = (
        await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 1})
    ).json()
    r = await customer.client.patch(f"/api/cart/{item['id']}/", json={"quantity": 4})
    assert r.status_code == 200, r.text
    assert r.json()["quantity"] == 4
    assert r.json()["line_total"] == "10.00"
    r = await customer.client.delete(f"/api/cart/{item['id']}/")
    assert r.status_code == 204
    assert (await customer.client.get("/api/cart/")).json()["items"] == []
    r = await customer.client.delete(f"/api/cart/{item['id']}/")
    assert r.status_code == 404


async def test_someone_elses_line_is_404(customer, make_customer, make_product):
    p = await make_product()
    item = (
        await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 1})
    ).json()
    other = await make_customer("other@example.com")
    async with other.client:
        assert (await other.client.get("/api/cart/")).json()["items"] == []
        r = await other.client.patch(f"/api/cart/{item['id']}/", json={"quantity": 2})
        assert r.status_code == 404
        r = await other.client.delete(f"/api/cart/{item['id']}/")
        assert r.status_code == 404
    assert (await customer.client.get("/api/cart/")).json()["items"][0]["quantity"] == 1


async def test_admin_token_and_anonymous_are_refused(admin, client):
    assert (await admin.client.get("/api/cart/")).status_code == 403
    assert (await admin.client.post("/api/cart/", json={"product_id": 1})).status_code == 403
    assert (await client.get("/api/cart/")).status_code == 401


async def test_concurrent_adds_make_one_line(kernel, customer, make_product):
    p = await make_product(stock=1000)
    responses = await asyncio.gather(
        *[
            customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 1})
            for _ in range(20)
        ]
    )
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    async with kernel.db.session() as session:
        lines = await session.scalar(select(func.count()).select_from(CartItem))
        qty = await session.scalar(select(CartItem.quantity))
    assert (lines, qty) == (1, 20)


async def test_total_without_adjustment_plugins_equals_subtotal(customer, make_product):
    p = await make_product(price="3.33", stock=10)
    await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 3})
    r = await customer.client.get("/api/cart/total/")
    assert r.status_code == 200
    assert r.json() == {
        "items_count": 3,
        "subtotal": "9.99",
        "adjustments": [],
        "total": "9.99",
        "currency": "USD",
    }


async def test_openapi_documents_the_cart(client):
    doc = (await client.get("/api/openapi.json")).json()
    post = doc["paths"]["/api/cart/"]["post"]
    assert {"200", "201", "404", "409", "422"} <= set(post["responses"])


async def test_bodies_are_read_strictly_and_nothing_is_added(customer, make_product, kernel):
    p = await make_product(stock=5)
    cases = [
        ({"product_id": p.id}, ["body", "quantity"], "required"),  # the contract requires it
        ({"product_id": p.id, "qty": 2, "quantity": 1}, ["body", "qty"], "not permitted"),
        ({"product_id": p.id, "quantity": True}, ["body", "quantity"], "integer"),
        ({"product_id": p.id, "quantity": 2.0}, ["body", "quantity"], "integer"),
        ({"product_id": p.id, "quantity": "2"}, ["body", "quantity"], "integer"),
        ({"product_id": str(p.id), "quantity": 1}, ["body", "product_id"], "integer"),
    ]
    for body, loc, words in cases:
        r = await customer.client.post("/api/cart/", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        [error] = r.json()["errors"]
        assert error["loc"] == loc and words in error["msg"].lower(), (body, error)
    async with kernel.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(CartItem)) == 0
