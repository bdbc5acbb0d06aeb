"""Test helpers the catalog offers to plugins that sell its products (import into a conftest:
`from commerce_catalog.api import make_product`)."""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal
from typing import Protocol

import pytest

from commerce_catalog.models import Product
from commerce_kernel import Kernel


class MakeProduct(Protocol):
    def __call__(
        self, price: str = ..., stock: int = ..., *, is_active: bool = ..., name: str | None = ...
    ) -> Awaitable[Product]: ...


@pytest.fixture
def make_product(kernel: Kernel) -> MakeProduct:
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
