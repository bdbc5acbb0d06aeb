"""Orders tests: the orders plugin with the cart and catalog it requires, on either backend."""

from __future__ import annotations

from typing import Any

import pytest
from commerce_catalog.api import Product, make_product  # noqa: F401 - make_product: a fixture
from commerce_orders.models import MailOutboxRow, Order
from sqlalchemy import func, select, update


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["orders"]


@pytest.fixture
def product_state(kernel: Any) -> Any:
    """`await product_state(pid)` → (stock, sold_count) as stored now."""

    async def read(product_id: int) -> tuple[int, int]:
        async with kernel.db.session() as session:
            row = (
                await session.execute(
                    select(Product.stock, Product.sold_count).where(Product.id == product_id)
                )
            ).one()
        return row.stock, row.sold_count

    return read


@pytest.fixture
def counts(kernel: Any) -> Any:
    """`await counts()` → {"orders": n, "outbox": n}."""

    async def read() -> dict[str, int]:
        async with kernel.db.session() as session:
            orders = await session.scalar(select(func.count()).select_from(Order))
            outbox = await session.scalar(select(func.count()).select_from(MailOutboxRow))
        return {"orders": int(orders or 0), "outbox": int(outbox or 0)}

    return read


@pytest.fixture
def force_status(kernel: Any) -> Any:
    """Put an order straight into a status (to test moves out of it)."""

    async def force(order_id: int, status: str) -> None:
        async with kernel.db.transaction() as session:
            await session.execute(update(Order).where(Order.id == order_id).values(status=status))

    return force
