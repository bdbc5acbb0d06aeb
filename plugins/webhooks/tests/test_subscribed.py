"""An event no endpoint subscribes to costs the shop nothing (no delivery, no task), and an
endpoint subscribed before a fact commits never misses that fact's event."""

from __future__ import annotations

import asyncio

from commerce_webhooks import subscribed
from commerce_webhooks.models import Endpoint, StockLow
from sqlalchemy import func, select

from commerce_kernel.events import EventDelivery

from .conftest import ENDPOINTS


async def kept_for_webhooks(kernel) -> dict[str, int]:
    """How many durable deliveries the kernel wrote for this plugin, by hook."""
    async with kernel.db.session() as session:
        rows = await session.execute(
            select(EventDelivery.hook, func.count())
            .where(EventDelivery.plugin == "webhooks")
            .group_by(EventDelivery.hook)
        )
        return dict(rows.all())


async def new_product(admin, sku: str, stock: int = 20) -> dict:
    r = await admin.client.post(
        "/api/products/", json={"sku": sku, "name": sku, "price": "3.00", "stock": stock}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_events_nobody_subscribes_to_write_no_delivery(
    kernel, admin, customer, endpoint, receiver, run_tasks, place_order
):
    product = await new_product(admin, "S-1")
    await place_order(customer.client, product["id"])
    await run_tasks()
    assert await kept_for_webhooks(kernel) == {}  # no endpoint at all

    await endpoint(event_types=["order.placed"])
    product = await new_product(admin, "S-2")
    order = await place_order(customer.client, product["id"])
    await run_tasks()
    # Only the subscribed type is kept: not the product's creation, not the sale's counts.
    assert await kept_for_webhooks(kernel) == {"order_placed": 1}
    [placed] = receiver.of_type("order.placed")
    assert placed["data"]["order"]["id"] == order["id"]
    assert receiver.of_type("product.created") == []

    await endpoint(event_types=["product.created"], enabled=False)
    await new_product(admin, "S-3")  # a disabled endpoint subscribes to nothing
    assert await kept_for_webhooks(kernel) == {"order_placed": 1}


async def test_an_endpoint_change_in_flight_holds_the_event_until_it_commits(
    kernel, admin, receiver, run_tasks
):
    """The endpoint's transaction has rewritten the subscriptions but not committed yet: a
    product created meanwhile waits for it, then is announced to the new endpoint."""
    async with kernel.db.transaction() as session:
        session.add(
            Endpoint(
                url=receiver.url,
                event_types=["product.created"],
                enabled=True,
                secret="whsec_" + "A" * 32,
                disabled_reason="",
            )
        )
        await session.flush()
        await subscribed.refresh(session)
        creating = asyncio.create_task(new_product(admin, "RACE-1"))
        await asyncio.sleep(0.5)
        assert not creating.done()  # waiting on the endpoint's transaction
    product = await creating
    assert await kept_for_webhooks(kernel) == {"product_created": 1}
    receiver.secrets.append("whsec_" + "A" * 32)
    await run_tasks()
    [created] = receiver.of_type("product.created")
    assert created["data"]["product"]["id"] == product["id"]


async def test_an_event_deciding_holds_an_endpoint_change_until_it_commits(kernel, admin, receiver):
    """The other order: a fact's transaction read the subscriptions (none); an endpoint
    created meanwhile waits for that fact to commit, so it cannot have been missed."""
    async with kernel.db.transaction() as session:
        assert await subscribed.subscribed(session) == frozenset()
        creating = asyncio.create_task(
            admin.client.post(
                ENDPOINTS, json={"url": receiver.url, "event_types": ["order.placed"]}
            )
        )
        await asyncio.sleep(0.5)
        assert not creating.done()
    r = await creating
    assert r.status_code == 201, r.text
    async with kernel.db.session() as session:
        assert await subscribed.subscribed(session) == {"order.placed"}


async def test_products_announced_low_are_forgotten_when_nobody_subscribes(
    kernel, admin, customer, endpoint, receiver, run_tasks, place_order
):
    low = await endpoint(event_types=["product.stock_low"])
    product = await new_product(admin, "LOW-1", stock=6)
    await place_order(customer.client, product["id"], 2)  # 4 left: low (threshold 5)
    await run_tasks()
    assert len(receiver.of_type("product.stock_low")) == 1
    r = await admin.client.patch(f"{ENDPOINTS}{low['id']}/", json={"event_types": ["order.placed"]})
    assert r.status_code == 200, r.text
    async with kernel.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(StockLow)) == 0
    await place_order(customer.client, product["id"], 1)  # 3 left, nobody listening
    await run_tasks()
    r = await admin.client.patch(
        f"{ENDPOINTS}{low['id']}/", json={"event_types": ["product.stock_low"]}
    )
    assert r.status_code == 200, r.text
    await place_order(customer.client, product["id"], 1)  # 2 left: heard again
    await run_tasks()
    stock = [m["data"]["product"]["stock"] for m in receiver.of_type("product.stock_low")]
    assert stock == [4, 2]
