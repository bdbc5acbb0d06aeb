"""What other plugins see: the adjustments pipeline priced into orders, and the after-commit
`order_placed` / `order_status_changed` broadcasts."""

from __future__ import annotations

import types
from decimal import Decimal
from typing import Any

import pytest
from commerce_cart.api import Adjustment
from commerce_orders.models import MailOutboxRow, Order
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from commerce_kernel import Plugin, hookimpl
from commerce_kernel.db import with_retries
from commerce_kernel.errors import ServiceUnavailable

SEEN: list[tuple[str, Any]] = []
DEADLOCKS = {"left": 0}


def _deadlock() -> OperationalError:
    return OperationalError(
        "UPDATE products ...", {}, Exception(1213, "Deadlock found when trying to get lock")
    )


def _listener_plugin() -> types.ModuleType:
    mod = types.ModuleType("test_order_listener_plugin")
    mod.plugin = Plugin(name="test_order_listener", version="0", requires=("orders",))  # type: ignore[attr-defined]

    @hookimpl
    def cart_adjustments(subtotal: Decimal, adjustments: list[Any]) -> list[Any]:
        return [*adjustments, Adjustment("SHIP", "Shipping", Decimal("4.95"))]

    @hookimpl
    async def order_placed(kernel: Any, order: dict[str, Any]) -> None:
        # Announced after commit: a fresh session already sees the order.
        async with kernel.db.session() as session:
            visible = await session.scalar(select(Order.id).where(Order.id == order["id"]))
        SEEN.append(("placed", (order["id"], order["account_id"], visible)))

    @hookimpl
    async def order_status_changed(order: dict[str, Any], old_status: str, new_status: str) -> None:
        SEEN.append(("changed", (order["id"], old_status, new_status, order["status"])))

    @hookimpl
    async def record_units_sold(session: Any, changes: dict[int, int]) -> None:
        # Plays the database choosing this transaction as a deadlock victim, mid-order.
        if DEADLOCKS["left"] > 0:
            DEADLOCKS["left"] -= 1
            raise _deadlock()

    for fn in (cart_adjustments, order_placed, order_status_changed, record_units_sold):
        setattr(mod, fn.__name__, fn)
    return mod


@pytest.fixture(scope="session")
def commerce_extra_plugins() -> list[Any]:
    return [_listener_plugin()]


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    SEEN.clear()
    DEADLOCKS["left"] = 0


async def test_orders_snapshot_adjustments_and_announce_after_commit(customer, admin, make_product):
    p = await make_product(price="10.00", stock=3)
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 2}]}
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["adjustments"] == [{"code": "SHIP", "label": "Shipping", "amount": "4.95"}]
    assert (order["subtotal"], order["total"]) == ("20.00", "24.95")
    assert SEEN == [("placed", (order["id"], customer.id, order["id"]))]

    await admin.client.delete(f"/api/orders/{order['id']}/")
    assert SEEN[-1] == ("changed", (order["id"], "pending", "cancelled", "cancelled"))


async def test_nothing_is_announced_for_a_refused_order(customer, make_product):
    p = await make_product(stock=1)
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 2}]}
    )
    assert r.status_code == 409
    assert SEEN == []


async def test_a_deadlock_victim_is_retried_inside_the_service(
    kernel, customer, make_product, product_state
):
    p = await make_product(stock=5)
    DEADLOCKS["left"] = 2
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
    assert [s for s, _ in SEEN] == ["placed"]


async def test_endless_deadlocks_answer_503_not_500(customer, make_product, product_state):
    p = await make_product(stock=5)
    DEADLOCKS["left"] = 100
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
