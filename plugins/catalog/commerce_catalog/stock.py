"""The catalog's default stock strategy: one conditional UPDATE per line."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_catalog.models import Product


async def allocate(session: AsyncSession, lines: list[tuple[int, int]]) -> list[dict[str, int]]:
    shortfalls = []
    for product_id, quantity in sorted(lines):
        result = await session.execute(
            update(Product)
            .where(Product.id == product_id, Product.is_active.is_(True), Product.stock >= quantity)
            .values(stock=Product.stock - quantity)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            available = (
                await session.execute(select(Product.stock).where(Product.id == product_id))
            ).scalar_one_or_none()
            shortfalls.append(
                {
                    "product_id": product_id,
                    "requested": quantity,
                    "available": max(0, available or 0),
                }
            )
    return shortfalls


async def release(session: AsyncSession, lines: list[tuple[int, int]]) -> None:
    for product_id, quantity in sorted(lines):
        await session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(stock=Product.stock + quantity)
            .execution_options(synchronize_session=False)
        )


async def record_sold(session: AsyncSession, changes: dict[int, int]) -> None:
    for product_id, delta in sorted(changes.items()):
        if delta:
            await session.execute(
                update(Product)
                .where(Product.id == product_id)
                .values(sold_count=Product.sold_count + delta)
                .execution_options(synchronize_session=False)
            )
