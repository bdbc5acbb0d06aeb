"""Idempotency-Key: one order per key and customer, whatever the retries and processes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from commerce_catalog.api import Product
from commerce_orders.idempotency import purge_expired
from commerce_orders.models import IdempotencyKey, Order
from sqlalchemy import func, select, update

from commerce_kernel.db import utcnow


def _items(product, quantity=1):
    return {"items": [{"product_id": product.id, "quantity": quantity}]}


async def test_retry_with_the_same_key_returns_the_first_order(
    customer, make_product, product_state, counts
):
    p = await make_product(stock=5)
    headers = {"Idempotency-Key": "order-attempt-1"}
    first = await customer.client.post("/api/orders/", json=_items(p), headers=headers)
    assert first.status_code == 201, first.text
    again = await customer.client.post("/api/orders/", json=_items(p), headers=headers)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert await product_state(p.id) == (4, 1)
    assert (await counts())["orders"] == 1


async def test_same_key_with_a_different_body_is_409(customer, make_product, counts):
    p = await make_product(stock=5)
    headers = {"Idempotency-Key": "k1"}
    assert (
        await customer.client.post("/api/orders/", json=_items(p), headers=headers)
    ).status_code == 201
    r = await customer.client.post("/api/orders/", json=_items(p, 2), headers=headers)
    assert r.status_code == 409
    assert "different" in r.json()["detail"]
    assert (await counts())["orders"] == 1


async def test_keys_are_per_customer_and_case_sensitive(
    customer, make_customer, make_product, counts
):
    p = await make_product(stock=5)
    r1 = await customer.client.post(
        "/api/orders/", json=_items(p), headers={"Idempotency-Key": "abc"}
    )
    r2 = await customer.client.post(
        "/api/orders/", json=_items(p), headers={"Idempotency-Key": "ABC"}
    )
    other = await make_customer("other@example.com")
    async with other.client:
        r3 = await other.client.post(
            "/api/orders/", json=_items(p), headers={"Idempotency-Key": "abc"}
        )
    assert [r.status_code for r in (r1, r2, r3)] == [201, 201, 201]
    assert len({r1.json()["id"], r2.json()["id"], r3.json()["id"]}) == 3


async def test_a_failed_attempt_releases_the_key(kernel, customer, make_product):
    p = await make_product(stock=0)
    headers = {"Idempotency-Key": "retry-after-restock"}
    assert (
        await customer.client.post("/api/orders/", json=_items(p), headers=headers)
    ).status_code == 409
    async with kernel.db.transaction() as session:
        await session.execute(update(Product).where(Product.id == p.id).values(stock=1))
    r = await customer.client.post("/api/orders/", json=_items(p), headers=headers)
    assert r.status_code == 201, r.text


async def test_a_key_in_flight_is_409_with_retry_after_and_a_dead_claim_is_taken_over(
    kernel, customer, make_product
):
    p = await make_product(stock=5)
    now = utcnow()
    from commerce_orders.idempotency import _key_hash, request_hash

    async with kernel.db.transaction() as session:
        session.add(
            IdempotencyKey(
                account_id=customer.id,
                key_hash=_key_hash("busy"),
                request_hash=request_hash([(p.id, 1)]),
                state="in_flight",
                claim_token="x" * 32,
                created_at=now,
                claimed_at=now,
            )
        )
    r = await customer.client.post(
        "/api/orders/", json=_items(p), headers={"Idempotency-Key": "busy"}
    )
    assert r.status_code == 409
    assert r.headers["retry-after"] == "1"

    # The request holding it died long ago (claims older than ORDERS_IDEMPOTENCY_STALE_SECONDS).
    async with kernel.db.transaction() as session:
        await session.execute(update(IdempotencyKey).values(claimed_at=now - timedelta(minutes=5)))
    r = await customer.client.post(
        "/api/orders/", json=_items(p), headers={"Idempotency-Key": "busy"}
    )
    assert r.status_code == 201, r.text


async def test_bad_key_header_is_422(customer, make_product):
    p = await make_product()
    r = await customer.client.post(
        "/api/orders/", json=_items(p), headers={"Idempotency-Key": "x" * 256}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_concurrent_retries_of_one_key_place_one_order(
    kernel, customer, make_product, product_state
):
    p = await make_product(stock=100)
    headers = {"Idempotency-Key": "double-click"}
    responses = await asyncio.gather(
        *[customer.client.post("/api/orders/", json=_items(p), headers=headers) for _ in range(25)]
    )
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 1, codes
    assert set(codes) <= {200, 201, 409}, [r.text for r in responses]
    assert all(r.headers.get("retry-after") for r in responses if r.status_code == 409)
    assert len({r.json()["id"] for r in responses if r.status_code in (200, 201)}) == 1
    assert await product_state(p.id) == (99, 1)
    final = await customer.client.post("/api/orders/", json=_items(p), headers=headers)
    assert final.status_code == 200


async def test_keys_older_than_the_retention_are_purged(kernel, customer, make_product):
    p = await make_product(stock=5)
    await customer.client.post("/api/orders/", json=_items(p), headers={"Idempotency-Key": "old"})
    await customer.client.post("/api/orders/", json=_items(p), headers={"Idempotency-Key": "new"})
    async with kernel.db.transaction() as session:
        old = select(IdempotencyKey.id).order_by(IdempotencyKey.id).limit(1)
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == (await session.scalar(old)))
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    assert await purge_expired(kernel) == 1
    async with kernel.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1
        assert await session.scalar(select(func.count()).select_from(Order)) == 2


async def test_concurrent_retries_across_two_server_processes_place_one_order(
    multiprocess, kernel, customer, make_product, product_state, spawn
):
    p = await make_product(stock=100)
    servers = [spawn("serve"), spawn("serve")]
    headers = {"Authorization": f"Bearer {customer.access_token}", "Idempotency-Key": "two-procs"}
    async with httpx.AsyncClient(timeout=30) as http:
        responses = await asyncio.gather(
            *[
                http.post(f"{servers[i % 2].url}/api/orders/", json=_items(p), headers=headers)
                for i in range(40)
            ]
        )
        codes = [r.status_code for r in responses]
        assert codes.count(201) == 1, codes
        assert set(codes) <= {200, 201, 409}, [r.text for r in responses]
        ids = {r.json()["id"] for r in responses if r.status_code in (200, 201)}
        assert len(ids) == 1
        for server in servers:
            r = await http.post(f"{server.url}/api/orders/", json=_items(p), headers=headers)
            assert (r.status_code, {r.json()["id"]}) == (200, ids)
    assert await product_state(p.id) == (99, 1)
