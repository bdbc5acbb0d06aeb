"""What other plugins see: the adjustments pipeline priced into orders, and the after-commit
`order_placed` / `order_status_changed` broadcasts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from commerce_cart.api import Adjustment
from commerce_orders.api import OrderWithAccount
from commerce_orders.models import MailOutboxRow, Order
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_kernel import Kernel, durable, hookimpl
from commerce_kernel.db import with_retries
from commerce_kernel.errors import ServiceUnavailable


def _deadlock() -> OperationalError:
    return OperationalError(
        "UPDATE products ...", {}, Exception(1213, "Deadlock found when trying to get lock")
    )


class Listener:
    """Another plugin's view: adds shipping to every total, records what it is told, and can
    play the database choosing the order's transaction as a deadlock victim."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.deadlocks = 0
        self.placing: list[bool] = []

    @hookimpl
    def cart_adjustments(
        self, subtotal: Decimal, placing: bool, adjustments: list[Adjustment]
    ) -> list[Adjustment]:
        self.placing.append(placing)
        return [*adjustments, Adjustment("SHIP", "Shipping", Decimal("4.95"))]

    @hookimpl
    async def order_placed(self, kernel: Kernel, order: OrderWithAccount) -> None:
        # Announced after commit: a fresh session already sees the order.
        async with kernel.db.session() as session:
            visible = await session.scalar(select(Order.id).where(Order.id == order["id"]))
        self.seen.append(("placed", (order["id"], order["account_id"], visible)))

    @hookimpl
    async def order_status_changed(
        self, order: OrderWithAccount, old_status: str, new_status: str
    ) -> None:
        self.seen.append(("changed", (order["id"], old_status, new_status, order["status"])))

    @hookimpl
    async def record_units_sold(self, session: AsyncSession, changes: dict[int, int]) -> None:
        # Mid-order, inside its transaction.
        if self.deadlocks > 0:
            self.deadlocks -= 1
            raise _deadlock()


class Ledger:
    """A listener that must not lose an order (points, an ERP): durable, failing at first."""

    def __init__(self) -> None:
        self.failures = 0
        self.tries: list[str] = []
        self.booked: dict[str, int] = {}

    @durable
    @hookimpl
    async def order_placed(self, event_id: str, order: OrderWithAccount) -> None:
        self.tries.append(event_id)
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("the ERP is down")
        self.booked.setdefault(event_id, order["id"])  # idempotent by event id


@pytest.fixture
def listener(listen: Any) -> Listener:
    heard = Listener()
    listen(heard)
    return heard


@pytest.fixture
def ledger(listen: Any) -> Ledger:
    durable_listener = Ledger()
    listen(durable_listener)
    return durable_listener


async def test_orders_snapshot_adjustments_and_announce_after_commit(
    listener, customer, admin, make_product
):
    p = await make_product(price="10.00", stock=3)
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 2}]}
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["adjustments"] == [{"code": "SHIP", "label": "Shipping", "amount": "4.95"}]
    assert (order["subtotal"], order["total"]) == ("20.00", "24.95")
    assert listener.seen == [("placed", (order["id"], customer.id, order["id"]))]

    await admin.client.delete(f"/api/orders/{order['id']}/")
    assert listener.seen[-1] == ("changed", (order["id"], "pending", "cancelled", "cancelled"))


async def test_nothing_is_announced_for_a_refused_order(listener, customer, make_product):
    p = await make_product(stock=1)
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 2}]}
    )
    assert r.status_code == 409
    assert listener.seen == []


async def test_a_deadlock_victim_is_retried_inside_the_service(
    listener, kernel, customer, make_product, product_state
):
    p = await make_product(stock=5)
    listener.deadlocks = 2
    r = await customer.client.post(
        "/api/orders/",
        json={"items": [{"product_id": p.id, "quantity": 2}]},
        headers={"Idempotency-Key": "deadlocked"},
    )
    assert r.status_code == 201, r.text
    assert await product_state(p.id) == (3, 2)  # the rolled-back tries left no trace
    async with kernel.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 1
        assert await session.scalar(select(func.count()).select_from(MailOutboxRow)) == 1
    assert [s for s, _ in listener.seen] == ["placed"]


async def test_endless_deadlocks_answer_503_not_500(
    listener, customer, make_product, product_state
):
    p = await make_product(stock=5)
    listener.deadlocks = 100
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 1}]}
    )
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"]
    assert await product_state(p.id) == (5, 0)


async def test_with_retries_passes_other_errors_through():
    async def broken() -> None:
        raise OperationalError("SELECT 1", {}, Exception(1064, "syntax error"))

    with pytest.raises(OperationalError):
        await with_retries(broken)

    async def always_locked() -> None:
        raise OperationalError("UPDATE", {}, Exception(1205, "Lock wait timeout exceeded"))

    with pytest.raises(ServiceUnavailable):
        await with_retries(always_locked, tries=3, base_delay=0)


async def test_an_order_is_priced_as_placing_and_a_cart_total_as_a_quote(
    listener, customer, make_product
):
    p = await make_product(price="10.00", stock=3)
    await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 1})
    assert (await customer.client.get("/api/cart/total/")).status_code == 200
    assert (await customer.client.post("/api/orders/")).status_code == 201
    assert listener.placing == [False, True]


async def test_a_durable_listener_gets_every_order_once_through_failures_and_deadlocks(
    ledger, listener, customer, make_product, run_tasks
):
    p = await make_product(stock=5)
    ledger.failures = 2
    listener.deadlocks = 2  # the first two transactions roll back
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 1}]}
    )
    assert r.status_code == 201, r.text
    await run_tasks()
    (event_id,) = ledger.booked
    assert ledger.booked == {event_id: r.json()["id"]}
    assert ledger.tries == [event_id] * 3  # two failures, then delivered; same event id


class InTransaction:
    """A plugin that writes beside the order, inside its transaction (as promotions would)."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.moves: list[tuple[int, str, str]] = []

    @hookimpl
    async def order_recording(self, session: AsyncSession, order: OrderWithAccount) -> None:
        # The order's own row is visible in its transaction, with the id to refer to.
        found = await session.scalar(select(Order.id).where(Order.id == order["id"]))
        assert found == order["id"]
        session.add(MailOutboxRow(order_id=order["id"], kind="extra", data={}, attempts=0))
        if self.refuse:
            from commerce_kernel.errors import Conflict

            raise Conflict("The extra step refused this order.")

    @hookimpl
    async def order_status_changing(
        self, session: AsyncSession, order: OrderWithAccount, old_status: str, new_status: str
    ) -> None:
        self.moves.append((order["id"], old_status, new_status))


async def test_in_transaction_hooks_commit_and_roll_back_with_the_order(
    customer, make_product, listen, kernel
):
    p = await make_product(stock=5)
    plugin = InTransaction()
    listen(plugin)
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 1}]}
    )
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    async with kernel.db.session() as session:
        kinds = (
            await session.scalars(
                select(MailOutboxRow.kind).where(MailOutboxRow.order_id == order_id)
            )
        ).all()
    assert sorted(kinds) == ["extra", "order_placed"]
    assert (await customer.client.delete(f"/api/orders/{order_id}/")).status_code == 204
    assert plugin.moves == [(order_id, "pending", "cancelled")]

    plugin.refuse = True
    refused = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 1}]}
    )
    assert refused.status_code == 409 and "extra step" in refused.json()["detail"]
    async with kernel.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 1  # rolled back
