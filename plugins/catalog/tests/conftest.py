"""Catalog test fixtures: the plugin under test and a quick way to add products."""

from decimal import Decimal

import pytest
from commerce_catalog.models import Product

from commerce_kernel.db import utcnow_seconds


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["catalog"]


@pytest.fixture
def add_products(kernel):
    """`await add_products(("SKU", "name", "description", "price", stock, active), ...)`."""

    async def add(*rows):
        ids = []
        async with kernel.db.transaction() as session:
            for sku, name, description, price, stock, *rest in rows:
                p = Product(
                    sku=sku,
                    name=name,
                    description=description,
                    price=Decimal(price),
                    stock=stock,
                    sold_count=rest[1] if len(rest) > 1 else 0,
                    is_active=rest[0] if rest else True,
                    created_at=utcnow_seconds(),
                    updated_at=utcnow_seconds(),
                )
                session.add(p)
                await session.flush()
                ids.append(p.id)
        return ids

    return add
