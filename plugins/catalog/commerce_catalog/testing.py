"""Test helpers the catalog offers to plugins that sell its products (import into a conftest:
`from commerce_catalog.testing import make_product`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from commerce_catalog.models import Product


@pytest.fixture
def make_product(kernel: Any) -> Any:
    """`await make_product(price="9.99", stock=5)` → a Product row, created directly."""
    counter = iter(range(1, 100_000))

    async def make(
        price: str = "10.00", stock: int = 10, *, is_active: bool = True, name: str | None = None
    ) -> Product:
        n = next(counter)
        async with kernel.db.transaction() as session:
            product = Product(
                sku=f"SKU-{n}",
                name=name or f"Product {n}",
                description="",
                price=Decimal(price),
                stock=stock,
                sold_count=0,
                is_active=is_active,
            )
            session.add(product)
        return product

    return make
