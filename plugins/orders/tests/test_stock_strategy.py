"""A plugin that replaces the catalog's stock strategy (hook `stock_strategy`) is the one that
takes and gives back an order's stock; the catalog still counts the units sold and announces
the figures, exactly as with its own default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from commerce_catalog.api import Lines, Product, Shortfall, SoldCount
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_kernel import Kernel, hookimpl

_CACHED = "catalog.stock_strategy"  # where commerce_catalog.api.stock keeps the strategy


class Warehouse:
    """Stock kept outside the products table (a warehouse system), and what it was asked."""

    def __init__(self) -> None:
        self.available: dict[int, int] = {}
        self.calls: list[tuple[str, list[tuple[int, int]]]] = []
        self.heard: list[list[SoldCount]] = []

    async def allocate(self, session: AsyncSession, lines: Lines) -> list[Shortfall]:
        self.calls.append(("allocate", list(lines)))
        short = [
            Shortfall(product_id=p, requested=q, available=self.available.get(p, 0))
            for p, q in lines
            if self.available.get(p, 0) < q
        ]
        if not short:
            for p, q in lines:
                self.available[p] -= q
        return short

    async def release(self, session: AsyncSession, lines: Lines) -> None:
        self.calls.append(("release", list(lines)))
        for p, q in lines:
            self.available[p] = self.available.get(p, 0) + q

    @hookimpl
    def stock_strategy(self, kernel: Kernel) -> Warehouse:
        return self

    @hookimpl
    async def sold_counts_changed(self, kernel: Kernel, counts: list[SoldCount]) -> None:
        self.heard.append(counts)


@pytest.fixture
def warehouse(kernel: Kernel, listen: Any) -> Iterator[Warehouse]:
    plugin = Warehouse()
    kernel.state.pop(_CACHED, None)  # made once per deployment: this one is a new deployment's
    listen(plugin)
    yield plugin
    kernel.state.pop(_CACHED, None)  # the next test has the catalog's default again


async def _product_row(kernel: Kernel, product_id: int) -> tuple[int, int, int]:
    async with kernel.db.session() as session:
        row = (
            await session.execute(
                select(Product.stock, Product.sold_count, Product.sold_version).where(
                    Product.id == product_id
                )
            )
        ).one()
    return row.stock, row.sold_count, row.sold_version


async def test_a_replaced_stock_strategy_takes_and_gives_back_every_sale(
    warehouse, kernel, customer, make_product
):
    p = await make_product(price="10.00", stock=50)  # the products table's figure, unused here
    warehouse.available[p.id] = 3
    stock_before, _, version = await _product_row(kernel, p.id)

    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 2}]}
    )
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    assert warehouse.calls == [("allocate", [(p.id, 2)])]
    assert warehouse.available[p.id] == 1
    # The strategy took the stock, so the table's is untouched; the catalog counted the sale.
    assert await _product_row(kernel, p.id) == (stock_before, 2, version + 1)
    assert warehouse.heard == [[{"product_id": p.id, "sold": 2, "version": version + 1}]]

    # The warehouse has 1 left: its shortfall is the answer, and nothing is counted.
    short = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p.id, "quantity": 2}]}
    )
    assert short.status_code == 409, short.text
    assert short.json()["lines"] == [{"product_id": p.id, "requested": 2, "available": 1}]
    assert await _product_row(kernel, p.id) == (stock_before, 2, version + 1)
    assert len(warehouse.heard) == 1

    assert (await customer.client.delete(f"/api/orders/{order_id}/")).status_code == 204
    assert warehouse.calls[-1] == ("release", [(p.id, 2)])
    assert warehouse.available[p.id] == 3
    assert await _product_row(kernel, p.id) == (stock_before, 0, version + 2)
    assert warehouse.heard[-1] == [{"product_id": p.id, "sold": 0, "version": version + 2}]


async def test_an_unknown_product_never_reaches_the_strategy(warehouse, customer, make_product):
    p = await make_product(stock=5)
    warehouse.available[p.id] = 5
    r = await customer.client.post(
        "/api/orders/",
        json={"items": [{"product_id": p.id, "quantity": 1}, {"product_id": 2**40, "quantity": 1}]},
    )
    assert r.status_code == 404, r.text
    assert r.json()["product_ids"] == [2**40]
    assert warehouse.calls == [] and warehouse.available[p.id] == 5
