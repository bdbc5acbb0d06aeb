"""The catalog's public API for other plugins (cart, orders): read products without HTTP,
take and give back stock, the hooks it offers (`SoldCount` is what `sold_counts_changed`
carries), and its test fixture.

Other plugins import only this module: `Product` is here for their foreign keys (importing
it registers the `products` table) and their tests; `make_product` is a pytest fixture for
their conftest (`from commerce_catalog.api import make_product`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_catalog import hookspecs as hooks
from commerce_catalog.models import Product
from commerce_catalog.schemas import ProductData, SoldCount
from commerce_catalog.stock import Lines, Shortfall, StockStrategy
from commerce_kernel import Kernel

if TYPE_CHECKING:
    from commerce_catalog.testing import MakeProduct, make_product
else:

    def __getattr__(name: str) -> object:
        # The fixture needs pytest, which a deployment need not have: imported on first use.
        if name in ("MakeProduct", "make_product"):
            from commerce_catalog import testing

            return getattr(testing, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class ProductInfo:
    id: int
    sku: str
    name: str
    price: Decimal
    stock: int
    sold_count: int
    is_active: bool


# ProductInfo's fields, read as columns: no ORM objects to load for what callers only read.
_INFO = select(
    Product.id,
    Product.sku,
    Product.name,
    Product.price,
    Product.stock,
    Product.sold_count,
    Product.is_active,
)
_INFO_BY_ID = _INFO.where(Product.id == bindparam("id"))


async def get_products(session: AsyncSession, ids: Iterable[int]) -> dict[int, ProductInfo]:
    """Products by id, inactive ones included (callers decide); unknown ids are absent."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(_INFO.where(Product.id.in_(wanted)))
    return {row[0]: ProductInfo(*row) for row in rows}


async def get_product(session: AsyncSession, product_id: int) -> ProductInfo | None:
    row = (await session.execute(_INFO_BY_ID, {"id": product_id})).first()
    return ProductInfo(*row) if row is not None else None


async def get_sold_counts(
    session: AsyncSession, ids: Iterable[int], *, include_inactive: bool = False
) -> dict[int, SoldCount]:
    """Units sold (and the figure's version, see `sold_counts_changed`) of the products
    among `ids`; unknown ids, and inactive products unless asked for, are absent."""
    wanted = sorted({i for i in ids if 0 < i < 2**63})
    if not wanted:
        return {}
    stmt = select(Product.id, Product.sold_count, Product.sold_version).where(
        Product.id.in_(wanted)
    )
    if not include_inactive:
        stmt = stmt.where(Product.is_active.is_(True))
    rows = await session.execute(stmt)
    return {pid: SoldCount(product_id=pid, sold=sold, version=v) for pid, sold, v in rows}


def stock(kernel: Kernel) -> StockStrategy:
    """The deployment's stock strategy (hook `stock_strategy`), made once."""
    return kernel.cached(
        "catalog.stock_strategy",
        lambda: kernel.hooks.call_sync(hooks.stock_strategy, kernel=kernel),
    )


__all__ = [
    "Lines",
    "MakeProduct",
    "Product",
    "ProductData",
    "ProductInfo",
    "Shortfall",
    "SoldCount",
    "StockStrategy",
    "get_product",
    "get_products",
    "get_sold_counts",
    "hooks",
    "make_product",
    "stock",
]
