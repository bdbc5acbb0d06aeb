"""The catalog's public API for other plugins (cart, orders): read products without HTTP."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_catalog.models import Product


@dataclass(frozen=True)
class ProductInfo:
    id: int
    sku: str
    name: str
    price: Decimal
    stock: int
    sold_count: int
    is_active: bool


def _info(p: Product) -> ProductInfo:
    return ProductInfo(p.id, p.sku, p.name, p.price, p.stock, p.sold_count, p.is_active)


async def get_products(session: AsyncSession, ids: Iterable[int]) -> dict[int, ProductInfo]:
    """Products by id, inactive ones included (callers decide); unknown ids are absent."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await session.execute(select(Product).where(Product.id.in_(wanted)))).scalars()
    return {p.id: _info(p) for p in rows}


async def get_product(session: AsyncSession, product_id: int) -> ProductInfo | None:
    p = await session.get(Product, product_id)
    return _info(p) if p is not None else None
