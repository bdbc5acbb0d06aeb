"""Stock: the strategy interface (take and give back, replaceable as one) and the catalog's
default, one conditional UPDATE per line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypedDict

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_catalog import hookspecs
from commerce_catalog.models import Product
from commerce_catalog.schemas import SoldCount
from commerce_kernel import Kernel
from commerce_kernel.db import rowcount

Lines = Sequence[tuple[int, int]]
"""`(product_id, quantity)` pairs."""


class Shortfall(TypedDict):
    """A line that could not be taken: how much was asked for and how much there is."""

    product_id: int
    requested: int
    available: int


class StockStrategy(Protocol):
    """Takes and gives back stock inside the caller's transaction (hook `stock_strategy`)."""

    async def allocate(self, session: AsyncSession, lines: Lines) -> list[Shortfall]:
        """Take stock for every line, inside the caller's open transaction. Returns the
        shortfalls; empty means everything was taken. When it is not empty the caller must
        roll back. Check and take happen in one statement per line (never check-then-write),
        in product id order so concurrent orders cannot deadlock."""
        ...

    async def release(self, session: AsyncSession, lines: Lines) -> None:
        """Give stock back for every line (a cancelled order), inside the caller's
        transaction."""
        ...


class ConditionalUpdateStock:
    """The default: `UPDATE products SET stock = stock - q WHERE id = ? AND stock >= q`.

    A sale through `commerce_catalog.api.sell` takes the stock and counts the units sold in
    that same statement (`take_and_count`), one round trip per line instead of two."""

    async def allocate(self, session: AsyncSession, lines: Lines) -> list[Shortfall]:
        return await allocate(session, lines)

    async def release(self, session: AsyncSession, lines: Lines) -> None:
        await release(session, lines)

    async def take_and_count(self, session: AsyncSession, lines: Lines) -> list[tuple[int, int]]:
        """Take stock and raise the sold count of every line, in product id order; returns
        the lines that could not be taken (unknown, retired or short: the caller rolls back)."""
        failed = []
        for product_id, quantity in sorted(lines):
            result = await session.execute(_SELL, {"p_id": product_id, "qty": quantity})
            if rowcount(result) != 1:
                failed.append((product_id, quantity))
        return failed

    async def give_back_and_uncount(self, session: AsyncSession, lines: Lines) -> None:
        """Give stock back and lower the sold count of every line, in product id order."""
        for product_id, quantity in sorted(lines):
            await session.execute(_UNSELL, {"p_id": product_id, "qty": quantity})


# Built once: the default strategy's sale and its reversal, stock and sold count together.
_SELL = (
    update(Product)
    .where(
        Product.id == bindparam("p_id"),
        Product.is_active.is_(True),
        Product.stock >= bindparam("qty"),
    )
    .values(
        stock=Product.stock - bindparam("qty"),
        sold_count=Product.sold_count + bindparam("qty"),
        sold_version=Product.sold_version + 1,
    )
    .execution_options(synchronize_session=False)
)
_UNSELL = (
    update(Product)
    .where(Product.id == bindparam("p_id"))
    .values(
        stock=Product.stock + bindparam("qty"),
        sold_count=Product.sold_count - bindparam("qty"),
        sold_version=Product.sold_version + 1,
    )
    .execution_options(synchronize_session=False)
)


async def allocate(session: AsyncSession, lines: Lines) -> list[Shortfall]:
    shortfalls: list[Shortfall] = []
    for product_id, quantity in sorted(lines):
        result = await session.execute(
            update(Product)
            .where(Product.id == product_id, Product.is_active.is_(True), Product.stock >= quantity)
            .values(stock=Product.stock - quantity)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) != 1:
            available = (
                await session.execute(select(Product.stock).where(Product.id == product_id))
            ).scalar_one_or_none()
            shortfalls.append(
                Shortfall(
                    product_id=product_id, requested=quantity, available=max(0, available or 0)
                )
            )
    return shortfalls


async def release(session: AsyncSession, lines: Lines) -> None:
    for product_id, quantity in sorted(lines):
        await session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(stock=Product.stock + quantity)
            .execution_options(synchronize_session=False)
        )


def sold_changes(changes: dict[int, int]) -> list[tuple[int, int]]:
    """The non-zero changes of `{product_id: delta}`, in product id order."""
    return [(p, d) for p, d in sorted(changes.items()) if d]


async def count_sold(session: AsyncSession, changed: Lines) -> None:
    """Raise (or lower) `sold_count` and bump `sold_version` per `(product_id, delta)`, in the
    order given (product id order: see `sold_changes`)."""
    for product_id, delta in changed:
        await session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(sold_count=Product.sold_count + delta, sold_version=Product.sold_version + 1)
            .execution_options(synchronize_session=False)
        )


async def announce_sold(
    kernel: Kernel, session: AsyncSession, ids: Sequence[int], counts: list[SoldCount] | None = None
) -> None:
    """Record `sold_counts_changed` for `ids` when anyone listens: `counts` when the caller
    read them under the rows' locks, else read back here in the same transaction (the rows
    are locked by then, so versions follow the commit order)."""
    if not ids or not kernel.events.listened(hookspecs.sold_counts_changed):
        return
    if counts is None:
        rows = await session.execute(
            select(Product.id, Product.sold_count, Product.sold_version).where(
                Product.id.in_(list(ids))
            )
        )
        counts = [SoldCount(product_id=pid, sold=sold, version=v) for pid, sold, v in rows]
    await kernel.events.record(session, hookspecs.sold_counts_changed, counts=counts)
