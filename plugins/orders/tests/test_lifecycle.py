"""The order life cycle: who may see, cancel and move an order, and what a cancel gives back."""

from __future__ import annotations

import asyncio

import pytest
from commerce_orders.service import TRANSITIONS

STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled"]
ALLOWED = {
    ("pending", "paid"),
    ("pending", "cancelled"),
    ("paid", "shipped"),
    ("paid", "cancelled"),
    ("shipped", "delivered"),
}


async def _order(client, product, quantity=1):
    r = await client.post(
        "/api/orders/", json={"items": [{"product_id": product.id, "quantity": quantity}]}
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_the_transition_table_is_the_documented_one():
    assert {(a.value, b.value) for a, nexts in TRANSITIONS.items() for b in nexts} == ALLOWED


@pytest.mark.parametrize("old", STATUSES)
@pytest.mark.parametrize("new", STATUSES)
async def test_admin_status_moves(
    old, new, admin, customer, make_product, force_status, product_state
):
    p = await make_product(stock=5)
    order = await _order(customer.client, p, 2)
    await force_status(order["id"], old)
    r = await admin.client.patch(f"/api/orders/{order['id']}/", json={"status": new})
    if (old, new) in ALLOWED:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == new
        assert (await admin.client.get(f"/api/orders/{order['id']}/")).json()["status"] == new
    else:
        assert r.status_code == 409, r.text
        assert r.json()["status_now"] == old
    given_back = (old, new) in {("pending", "cancelled"), ("paid", "cancelled")}
    assert await product_state(p.id) == ((5, 0) if given_back else (3, 2))


async def test_unknown_status_is_422_and_customers_get_403(admin, customer, make_product):
    order = await _order(customer.client, await make_product())
    r = await admin.client.patch(f"/api/orders/{order['id']}/", json={"status": "teleported"})
    assert r.status_code == 422
    r = await customer.client.patch(f"/api/orders/{order['id']}/", json={"status": "paid"})
    assert r.status_code == 403
    r = await admin.client.patch("/api/orders/999999/", json={"status": "paid"})
    assert r.status_code == 404


async def test_cancel_gives_stock_and_sold_count_back_exactly_once(
    customer, make_product, product_state
):
    p = await make_product(stock=5)
    order = await _order(customer.client, p, 3)
    assert await product_state(p.id) == (2, 3)
    r = await customer.client.delete(f"/api/orders/{order['id']}/")
    assert r.status_code == 204
    assert await product_state(p.id) == (5, 0)
    r = await customer.client.delete(f"/api/orders/{order['id']}/")
    assert r.status_code == 409
    assert await product_state(p.id) == (5, 0)
    shown = (await customer.client.get(f"/api/orders/{order['id']}/")).json()
    assert shown["status"] == "cancelled"
    assert shown["items"] == order["items"]


async def test_concurrent_cancels_give_back_once(customer, admin, make_product, product_state):
    p = await make_product(stock=5)
    order = await _order(customer.client, p, 2)
    responses = await asyncio.gather(
        *[
            (customer if i % 2 else admin).client.delete(f"/api/orders/{order['id']}/")
            for i in range(10)
        ]
    )
    assert sorted(r.status_code for r in responses) == [204] + [409] * 9
    assert await product_state(p.id) == (5, 0)


async def test_who_may_cancel_what(customer, admin, make_product, force_status):
    p = await make_product(stock=10)
    paid = await _order(customer.client, p)
    await force_status(paid["id"], "paid")
    assert (await customer.client.delete(f"/api/orders/{paid['id']}/")).status_code == 409
    assert (await admin.client.delete(f"/api/orders/{paid['id']}/")).status_code == 204
    for status in ("shipped", "delivered"):
        o = await _order(customer.client, p)
        await force_status(o["id"], status)
        assert (await admin.client.delete(f"/api/orders/{o['id']}/")).status_code == 409


async def test_other_customers_orders_are_404(customer, make_customer, make_product):
    order = await _order(customer.client, await make_product())
    other = await make_customer("other@example.com")
    async with other.client:
        assert (await other.client.get(f"/api/orders/{order['id']}/")).status_code == 404
        assert (await other.client.delete(f"/api/orders/{order['id']}/")).status_code == 404
        assert (await other.client.get("/api/orders/")).json()["count"] == 0
    assert (await customer.client.get(f"/api/orders/{order['id']}/")).json()["status"] == "pending"


async def test_listing_own_orders_and_all_orders_for_admins(
    customer, admin, make_customer, make_product, force_status
):
    p = await make_product(stock=50)
    mine = [await _order(customer.client, p) for _ in range(3)]
    other = await make_customer("other@example.com")
    async with other.client:
        theirs = await _order(other.client, p)
    await force_status(mine[0]["id"], "paid")

    r = await customer.client.get("/api/orders/")
    assert r.status_code == 200
    assert [o["id"] for o in r.json()["results"]] == [o["id"] for o in reversed(mine)]
    assert r.json()["count"] == 3

    r = await admin.client.get("/api/orders/")
    assert r.json()["count"] == 4
    assert r.json()["results"][0]["id"] == theirs["id"]
    r = await admin.client.get("/api/orders/?status=paid")
    assert [o["id"] for o in r.json()["results"]] == [mine[0]["id"]]
    assert (await admin.client.get("/api/orders/?status=lost")).status_code == 422

    r = await admin.client.get("/api/orders/?page_size=3")
    assert len(r.json()["results"]) == 3 and r.json()["next"]
    r = await admin.client.get("/api/orders/?page=2&page_size=3")
    assert len(r.json()["results"]) == 1 and r.json()["next"] is None
    assert (await admin.client.get("/api/orders/?page=3&page_size=3")).status_code == 404
    assert (await admin.client.get(f"/api/orders/{theirs['id']}/")).status_code == 200


async def test_status_changes_are_mailed_to_the_customer(
    admin, customer, make_product, run_tasks, mailbox
):
    order = await _order(customer.client, await make_product())
    await admin.client.patch(f"/api/orders/{order['id']}/", json={"status": "paid"})
    await admin.client.patch(f"/api/orders/{order['id']}/", json={"status": "shipped"})
    await run_tasks()
    subjects = sorted(m["Subject"] for m in mailbox)
    assert subjects == sorted(
        [
            f"Your order #{order['id']} is confirmed",
            f"Your order #{order['id']} is now paid",
            f"Your order #{order['id']} is now shipped",
        ]
    )
    assert all(m["To"] == "customer@example.com" for m in mailbox)


async def test_the_mails_say_what_was_ordered_and_what_changed(
    admin, customer, make_product, run_tasks, mailbox
):
    widget = await make_product(price="4.50", name="Widget")
    gadget = await make_product(price="10.00", name="Gadget")
    r = await customer.client.post(
        "/api/orders/",
        json={
            "items": [
                {"product_id": widget.id, "quantity": 2},
                {"product_id": gadget.id, "quantity": 1},
            ]
        },
    )
    assert r.status_code == 201, r.text
    order = r.json()
    await run_tasks()
    [confirmation] = mailbox
    currency = order["currency"]
    lines = confirmation.get_content().splitlines()
    assert lines[0] == f"Thank you for your order #{order['id']}."
    assert f"  2 x Widget ({widget.sku}) 9.00 {currency}" in lines
    assert f"  1 x Gadget ({gadget.sku}) 10.00 {currency}" in lines
    assert lines.index(f"  2 x Widget ({widget.sku}) 9.00 {currency}") < lines.index(
        f"  1 x Gadget ({gadget.sku}) 10.00 {currency}"
    )  # in the order's line order
    assert f"  Subtotal: 19.00 {currency}" in lines and f"  Total: 19.00 {currency}" in lines

    r = await admin.client.patch(f"/api/orders/{order['id']}/", json={"status": "paid"})
    assert r.status_code == 200, r.text
    await run_tasks()
    changed = next(m for m in mailbox if m["Subject"].endswith("is now paid"))
    assert changed["To"] == "customer@example.com"
    assert changed.get_content().strip() == (
        f"Your order #{order['id']} changed from pending to paid."
    )
