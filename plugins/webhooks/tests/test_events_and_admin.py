"""Each shop event becomes its webhook; the admin API manages endpoints and secrets."""

from __future__ import annotations

from datetime import datetime

ENDPOINTS = "/api/admin/webhooks/endpoints/"


async def test_product_life_cycle_and_stock_low(
    admin, customer, endpoint, receiver, run_tasks, place_order
):
    await endpoint()
    r = await admin.client.post(
        "/api/products/", json={"sku": "W-1", "name": "Widget", "price": "4.00", "stock": 7}
    )
    assert r.status_code == 201, r.text
    product = r.json()
    await run_tasks()
    [created] = receiver.of_type("product.created")
    assert created["data"]["product"] == product

    await place_order(customer.client, product["id"], 1)  # 6 left: above the threshold (5)
    await run_tasks()
    assert receiver.of_type("product.stock_low") == []
    await place_order(customer.client, product["id"], 2)  # 4 left
    await place_order(customer.client, product["id"], 1)  # 3 left: announced once only
    await run_tasks()
    [low] = receiver.of_type("product.stock_low")
    assert low["data"]["product"]["id"] == product["id"]
    assert low["data"]["product"]["stock"] in (3, 4) and low["data"]["threshold"] == 5

    r = await admin.client.patch(f"/api/products/{product['id']}/", json={"stock": 50})
    assert r.status_code == 200, r.text
    await run_tasks()
    [updated] = receiver.of_type("product.updated")
    assert updated["data"]["changed"] == ["stock"] and updated["data"]["product"]["stock"] == 50
    await place_order(customer.client, product["id"], 46)  # restocked, then low again
    await run_tasks()
    assert len(receiver.of_type("product.stock_low")) == 2

    r = await admin.client.delete(f"/api/products/{product['id']}/")
    assert r.status_code == 204
    await run_tasks()
    [retired] = receiver.of_type("product.retired")
    assert retired["data"]["product"]["id"] == product["id"]
    assert receiver.unverified == 0


async def test_a_finished_bulk_upload_is_announced_with_its_status(
    admin, endpoint, receiver, run_tasks
):
    await endpoint(event_types=["bulk_upload.finished"])
    r = await admin.client.post(
        "/api/products/bulk_upload/",
        files={"file": ("p.csv", b"sku,name,price\nB-1,Bolt,1.00\nB-2,,2.00\n", "text/csv")},
    )
    assert r.status_code == 202, r.text
    await run_tasks()
    status = (await admin.client.get(r.json()["status_url"])).json()
    assert status["status"] == "succeeded"
    [message] = receiver.of_type("bulk_upload.finished")
    assert message["data"] == {"job": status}
    assert (status["created"], status["failed"]) == (1, 1)


async def test_a_cancellation_sends_status_changed_and_cancelled(
    admin, customer, make_product, endpoint, receiver, run_tasks, place_order
):
    await endpoint(event_types=["order.status_changed", "order.cancelled"])
    product = await make_product(stock=50)
    order = await place_order(customer.client, product.id)
    r = await admin.client.patch(f"/api/orders/{order['id']}/", json={"status": "paid"})
    assert r.status_code == 200, r.text
    r = await customer.client.delete(f"/api/orders/{order['id']}/")
    assert r.status_code in (204, 409)
    r = await admin.client.delete(f"/api/orders/{order['id']}/")
    assert r.status_code == 204
    await run_tasks()
    changes = sorted(
        (m["data"]["old_status"], m["data"]["new_status"])
        for m in receiver.of_type("order.status_changed")
    )
    assert changes == [("paid", "cancelled"), ("pending", "paid")]
    [cancelled] = receiver.of_type("order.cancelled")
    assert cancelled["data"]["order"]["id"] == order["id"]
    assert cancelled["data"]["order"]["status"] == "cancelled"
    assert len(receiver.messages) == 3  # three distinct webhook-ids


async def test_secret_is_shown_once_and_rotation_signs_with_both_for_the_overlap(
    admin, customer, make_product, endpoint, receiver, run_tasks, place_order
):
    ep = await endpoint(event_types=["order.placed"])
    assert ep["secret"].startswith("whsec_")
    listed = (await admin.client.get(ENDPOINTS)).json()
    assert listed["count"] == 1 and "secret" not in listed["results"][0]
    assert "secret" not in (await admin.client.get(f"{ENDPOINTS}{ep['id']}/")).json()

    r = await admin.client.post(f"{ENDPOINTS}{ep['id']}/rotate-secret/")
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != ep["secret"]
    assert datetime.fromisoformat(rotated["previous_secret_until"]) > datetime.fromisoformat(
        ep["created_at"]
    )
    receiver.secrets = [ep["secret"], rotated["secret"]]
    product = await make_product(stock=50)
    await place_order(customer.client, product.id)
    await run_tasks()
    # Two signatures; a receiver holding either secret alone verifies the message.
    [request] = receiver.requests
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    assert receiver.verified_by == [{0, 1}]


async def test_endpoints_are_created_listed_updated_and_deleted(admin, customer, endpoint):
    ep = await endpoint(event_types=["order.placed", "order.placed"], description="ERP")
    assert ep["event_types"] == ["order.placed"] and ep["enabled"] is True
    r = await admin.client.patch(
        f"{ENDPOINTS}{ep['id']}/", json={"event_types": ["product.created"], "enabled": False}
    )
    assert r.status_code == 200, r.text
    assert r.json()["event_types"] == ["product.created"] and r.json()["enabled"] is False
    r = await admin.client.post(ENDPOINTS, json={"url": ep["url"], "event_types": ["nope"]})
    assert r.status_code == 422
    r = await admin.client.post(ENDPOINTS, json={"url": ep["url"], "event_types": []})
    assert r.status_code == 422
    assert (await customer.client.get(ENDPOINTS)).status_code in (401, 403)
    assert (await admin.client.delete(f"{ENDPOINTS}{ep['id']}/")).status_code == 204
    assert (await admin.client.get(f"{ENDPOINTS}{ep['id']}/")).status_code == 404
    r = await admin.client.get(f"{ENDPOINTS}{ep['id']}/deliveries/")
    assert r.status_code == 404
