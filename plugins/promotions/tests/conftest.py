"""promotions tests: the plugin with the cart and orders it requires, on either backend."""

from __future__ import annotations

from typing import Any

import pytest
from commerce_catalog.api import make_product  # noqa: F401 - a fixture

ADMIN = "/api/admin/promotions/"
CODES = "/api/cart/promotions/"
TOTAL = "/api/cart/total/"


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["promotions"]


@pytest.fixture
def promotion(admin: Any) -> Any:
    """`await promotion(kind="percentage", value="10", ...)`: created through the admin API;
    returns its JSON."""

    async def create(**fields: Any) -> dict[str, Any]:
        r = await admin.client.post(ADMIN, json=fields)
        assert r.status_code == 201, r.text
        return r.json()

    return create


@pytest.fixture
def cart(customer: Any) -> Any:
    """`await cart((product, quantity), ...)`: the customer's cart holds those lines; returns
    `GET /api/cart/total/`."""

    async def fill(*lines: tuple[Any, int]) -> dict[str, Any]:
        for product, quantity in lines:
            r = await customer.client.post(
                "/api/cart/", json={"product_id": product.id, "quantity": quantity}
            )
            assert r.status_code in (200, 201), r.text
        return (await customer.client.get(TOTAL)).json()

    return fill


@pytest.fixture
def product_stock(kernel: Any) -> Any:
    """`await product_stock(pid)` → its stock as stored now."""
    from commerce_catalog.api import Product
    from sqlalchemy import select

    async def read(product_id: int) -> int:
        async with kernel.db.session() as session:
            return int(await session.scalar(select(Product.stock).where(Product.id == product_id)))

    return read
