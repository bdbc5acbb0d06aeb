"""Errors name the rule that refused the request, in one wording across plugins."""

from __future__ import annotations

import pytest

MISSING = 987_654


async def _order(client, product):
    r = await client.post(
        "/api/orders/", json={"items": [{"product_id": product.id, "quantity": 1}]}
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("status", ["paid", "shipped", "delivered", "cancelled"])
async def test_a_customer_is_told_only_pending_orders_are_theirs_to_cancel(
    status, customer, make_product, force_status
):
    order = await _order(customer.client, await make_product())
    await force_status(order["id"], status)
    r = await customer.client.delete(f"/api/orders/{order['id']}/")
    assert r.status_code == 409, r.text
    assert (
        r.json()["detail"] == f"Customers may cancel only pending orders; this order is {status}."
    )
    assert (r.json()["status_now"], r.json()["requested"]) == (status, "cancelled")
    assert r.json()["allowed_from"] == ["pending"]


async def test_an_admin_is_told_the_life_cycle_rule(admin, customer, make_product, force_status):
    order = await _order(customer.client, await make_product())
    await force_status(order["id"], "paid")
    # What a customer may not do, an admin may: the customer's refusal was their rule only.
    assert (await customer.client.delete(f"/api/orders/{order['id']}/")).status_code == 409
    assert (await admin.client.delete(f"/api/orders/{order['id']}/")).status_code == 204

    shipped = await _order(customer.client, await make_product())
    await force_status(shipped["id"], "shipped")
    r = await admin.client.delete(f"/api/orders/{shipped['id']}/")
    assert r.status_code == 409
    assert r.json()["detail"] == "An order that is shipped cannot become cancelled."
    assert r.json()["allowed_from"] == ["pending", "paid"]
    r = await admin.client.patch(f"/api/orders/{shipped['id']}/", json={"status": "paid"})
    assert r.status_code == 409
    assert r.json()["detail"] == "An order that is shipped cannot become paid."
    assert r.json()["allowed_from"] == ["pending"]


async def test_an_unknown_product_has_one_wording_in_catalog_cart_and_orders(
    client, admin, customer, make_product
):
    retired = await make_product(is_active=False)
    said = {"detail": f"Product {MISSING} does not exist.", "product_id": MISSING}

    def problem(r, **expected):
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert {k: body.get(k) for k in expected} == expected

    path = f"/api/products/{MISSING}/"
    problem(await client.get(path), **said)
    problem(await admin.client.get(path), **said)
    problem(await admin.client.patch(path, json={"stock": 1}), **said)
    problem(
        await admin.client.put(
            path,
            json={
                "sku": "X-1",
                "name": "X",
                "description": "",
                "price": "1.00",
                "stock": 1,
                "is_active": True,
            },
        ),
        **said,
    )
    problem(await admin.client.delete(path), **said)
    problem(
        await client.get(f"/api/products/{retired.id}/"),
        detail=f"Product {retired.id} does not exist.",
        product_id=retired.id,
    )
    problem(
        await customer.client.post("/api/cart/", json={"product_id": MISSING, "quantity": 1}),
        **said,
    )

    live = await make_product()
    r = await customer.client.post(
        "/api/orders/",
        json={
            "items": [
                {"product_id": live.id, "quantity": 1},
                {"product_id": MISSING, "quantity": 1},
            ]
        },
    )
    problem(r, detail=f"Product {MISSING} does not exist.", product_ids=[MISSING])
    r = await customer.client.post(
        "/api/orders/",
        json={
            "items": [
                {"product_id": MISSING, "quantity": 1},
                {"product_id": retired.id, "quantity": 1},
            ]
        },
    )
    problem(
        r,
        detail=f"Products {MISSING}, {retired.id} do not exist.",
        product_ids=[MISSING, retired.id],
    )
