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
from commerce_catalog import stock as stock_module
from commerce_catalog.models import Product
from commerce_catalog.schemas import ProductData, SoldCount
from commerce_catalog.stock import ConditionalUpdateStock, Lines, Shortfall, StockStrategy
from commerce_kernel import MAX_INT_ID, Kernel

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


INFO_COLUMNS = (
    Product.id,
    Product.sku,
    Product.name,
    Product.price,
    Product.stock,
    Product.sold_count,
    Product.is_active,
)
"""ProductInfo's fields as columns, in its field order: for a plugin's own statement that
joins `products` (`select(MyRow.id, *INFO_COLUMNS).join(Product, ...)`, then
`ProductInfo(*row[1:])`), one round trip where reading its rows and then `get_products`
would take two."""

# ProductInfo's fields, read as columns: no ORM objects to load for what callers only read.
_INFO = select(*INFO_COLUMNS)
_INFO_BY_ID = _INFO.where(Product.id == bindparam("id"))
# Built once (an expanding IN takes any number of ids): no statement made on each call.
_AMONG = Product.id.in_(bindparam("ids", expanding=True))
_INFO_AMONG = _INFO.where(_AMONG)


async def get_products(session: AsyncSession, ids: Iterable[int]) -> dict[int, ProductInfo]:
    """Products by id, inactive ones included (callers decide); unknown ids are absent."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(_INFO_AMONG, {"ids": wanted})
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


# What a sale reads of its products once their rows are locked: ProductInfo and the version.
_SOLD = _INFO.add_columns(Product.sold_version).where(_AMONG)


@dataclass(frozen=True)
class Sale:
    """What `sell` answers. When `missing` or `shortfalls` is not empty nothing is sold and
    the caller must roll back; else every line was taken and counted, and `products` holds
    each product as the sale left it (read under its row lock: the price sold at)."""

    products: dict[int, ProductInfo]
    missing: list[int]  # unknown or retired, in the order of the lines
    shortfalls: list[Shortfall]


async def sell(kernel: Kernel, session: AsyncSession, lines: Lines) -> Sale:
    """Sell `lines` (`(product_id, quantity)`, one per product) inside the caller's
    transaction: take their stock (the deployment's stock strategy), raise their sold counts,
    tell `record_units_sold`, and record `sold_counts_changed` (announced when the caller
    commits). With the default strategy the stock and the count change in one conditional
    UPDATE per line, and one read of the locked rows serves the caller and the event."""
    lines = list(lines)
    known = [(p, q) for p, q in lines if 0 < p <= MAX_INT_ID]
    strategy = stock(kernel)
    if type(strategy) is ConditionalUpdateStock:
        failed = dict(await strategy.take_and_count(session, known))
        rows = (await session.execute(_SOLD, {"ids": [p for p, _ in known]})).all()
        products = {row[0]: ProductInfo(*row[:-1]) for row in rows}
        sale = _sale(lines, products, failed)
        if sale.missing or sale.shortfalls:
            return sale
        counts = [SoldCount(product_id=row[0], sold=row[5], version=row[-1]) for row in rows]
        await _counted(kernel, session, dict(lines), counts)
        return sale
    products = await get_products(session, [p for p, _ in known])
    sale = _sale(lines, products, {})
    if sale.missing:
        return sale
    shortfalls = await strategy.allocate(session, lines)
    if shortfalls:
        return Sale(products, [], shortfalls)
    changed = stock_module.sold_changes(dict(lines))
    await stock_module.count_sold(session, changed)
    await _counted(kernel, session, dict(lines), None)
    return sale


def _sale(lines: Lines, products: dict[int, ProductInfo], failed: dict[int, int]) -> Sale:
    missing = [p for p, _ in lines if p not in products or not products[p].is_active]
    shortfalls = [
        Shortfall(product_id=p, requested=q, available=max(0, products[p].stock))
        for p, q in sorted(failed.items())
        if p in products and products[p].is_active
    ]
    return Sale(products, missing, shortfalls)


async def unsell(kernel: Kernel, session: AsyncSession, lines: Lines) -> None:
    """Undo a sale of `lines` (a cancelled order) inside the caller's transaction: stock given
    back (the strategy's `release`), sold counts lowered, `record_units_sold` told (negative
    changes) and `sold_counts_changed` recorded."""
    changes = {p: -q for p, q in lines}
    strategy = stock(kernel)
    if type(strategy) is ConditionalUpdateStock:
        await strategy.give_back_and_uncount(session, lines)
    else:
        await strategy.release(session, lines)
        await stock_module.count_sold(session, stock_module.sold_changes(changes))
    await _counted(kernel, session, changes, None)


async def _counted(
    kernel: Kernel, session: AsyncSession, changes: dict[int, int], counts: list[SoldCount] | None
) -> None:
    ids = [p for p, _ in stock_module.sold_changes(changes)]
    await kernel.hooks.call(
        hooks.record_units_sold, kernel=kernel, session=session, changes=changes
    )
    await stock_module.announce_sold(kernel, session, ids, counts)


def stock(kernel: Kernel) -> StockStrategy:
    """The deployment's stock strategy (hook `stock_strategy`), made once."""
    return kernel.cached(
        "catalog.stock_strategy",
        lambda: kernel.hooks.call_sync(hooks.stock_strategy, kernel=kernel),
    )


__all__ = [
    "INFO_COLUMNS",
    "Lines",
    "MakeProduct",
    "Product",
    "ProductData",
    "ProductInfo",
    "Sale",
    "Shortfall",
    "SoldCount",
    "StockStrategy",
    "get_product",
    "get_products",
    "get_sold_counts",
    "hooks",
    "make_product",
    "sell",
    "stock",
    "unsell",
]
