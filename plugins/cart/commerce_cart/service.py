"""Cart rules: add, change and remove lines of one customer's cart, priced at read time."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

from commerce_catalog.api import INFO_COLUMNS, Product, ProductInfo, get_product
from sqlalchemy import Table, bindparam, delete, false, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from commerce_cart.models import CartItem
from commerce_cart.pricing import Totals, compute_totals
from commerce_cart.values import PricedLine
from commerce_kernel import MAX_INT_ID, Kernel
from commerce_kernel.db import rowcount, utcnow, with_retries
from commerce_kernel.errors import Conflict, NotFound
from commerce_kernel.money import format_money


def valid_id(value: int) -> bool:
    return 0 < value <= MAX_INT_ID


async def _active_product(session: AsyncSession, product_id: int) -> ProductInfo:
    product = await get_product(session, product_id) if valid_id(product_id) else None
    if product is None or not product.is_active:
        raise NotFound(f"Product {product_id} does not exist.", product_id=product_id)
    return product


def _out_of_stock(product: ProductInfo, requested: int) -> Conflict:
    return Conflict(
        f"Only {product.stock} of product {product.id} in stock; the cart would hold {requested}.",
        product_id=product.id,
        requested=requested,
        available=product.stock,
    )


def _line(item: Any, product: ProductInfo) -> PricedLine:
    """`item`: a cart line's row (its `quantity` is what is read)."""
    return PricedLine(product.id, product.sku, product.name, product.price, item.quantity)


def item_out(item_id: int, line: PricedLine, currency: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "product_id": line.product_id,
        "sku": line.sku,
        "name": line.name,
        "unit_price": format_money(line.unit_price, currency),
        "quantity": line.quantity,
        "line_total": format_money(line.line_total, currency),
    }


# A cart's lines (id, quantity) with their products, in one statement: read, never changed,
# so no ORM objects. A line whose product is gone is left out (the inner join).
_LINES = (
    select(CartItem.id, CartItem.quantity, *INFO_COLUMNS)
    .join(Product, Product.id == CartItem.product_id)
    .where(CartItem.account_id == bindparam("account_id"))
    .order_by(CartItem.id)
)


async def _priced_items(session: AsyncSession, account_id: int) -> list[tuple[Any, PricedLine]]:
    rows = await session.execute(_LINES, {"account_id": account_id})
    return [(row, _line(row, ProductInfo(*row[2:]))) for row in rows]


async def cart_lines(session: AsyncSession, account_id: int) -> list[PricedLine]:
    """The customer's cart priced at the catalog's current prices, as `GET /api/cart/total/`
    prices it: a plain read, no lock (lines of products that no longer exist are left out)."""
    return [line for _, line in await _priced_items(session, account_id)]


async def view_cart(kernel: Kernel, account_id: int) -> dict[str, Any]:
    currency = kernel.settings.currency
    async with kernel.db.session() as session:
        priced = await _priced_items(session, account_id)
    lines = [line for _, line in priced]
    subtotal = sum((line.line_total for line in lines), Decimal(0))
    return {
        "items": [item_out(item.id, line, currency) for item, line in priced],
        "items_count": sum(line.quantity for line in lines),
        "subtotal": format_money(subtotal, currency),
        "currency": currency,
    }


async def cart_totals(kernel: Kernel, account_id: int) -> Totals:
    async with kernel.db.session() as session:
        priced = await _priced_items(session, account_id)
        return await compute_totals(kernel, session, account_id, [line for _, line in priced])


def totals_out(totals: Totals) -> dict[str, Any]:
    c = totals.currency
    return {
        "items_count": totals.items_count,
        "subtotal": format_money(totals.subtotal, c),
        "adjustments": [a.to_dict(c) for a in totals.adjustments],
        "total": format_money(totals.total, c),
        "currency": c,
    }


def _upsert(on_mysql: bool, account_id: int, product_id: int, quantity: int) -> Insert:
    """One statement that inserts the line or adds to its quantity, so two concurrent adds of
    the same product can never create two lines (the unique key decides), and answers the
    line's id and new quantity (RETURNING: SQLite 3.35+, MariaDB 10.5+)."""
    now = utcnow()
    values = {
        "account_id": account_id,
        "product_id": product_id,
        "quantity": quantity,
        "created_at": now,
        "updated_at": now,
    }
    table = cast(Table, CartItem.__table__)
    if on_mysql:
        stmt = mysql.insert(table).values(**values)
        return stmt.on_duplicate_key_update(
            quantity=table.c.quantity + stmt.inserted.quantity, updated_at=now
        ).returning(table.c.id, table.c.quantity)
    stmt_lite = sqlite.insert(table).values(**values)
    return stmt_lite.on_conflict_do_update(
        index_elements=["account_id", "product_id"],
        set_={"quantity": table.c.quantity + stmt_lite.excluded.quantity, "updated_at": now},
    ).returning(table.c.id, table.c.quantity)


async def add_item(
    kernel: Kernel, account_id: int, product_id: int, quantity: int
) -> tuple[dict[str, Any], bool]:
    """Add `quantity` of a product; returns the line and whether it was created (else merged).

    The stock check is on the whole line (what is already in the cart plus this), made after
    the upsert inside the same transaction so concurrent adds cannot both slip under it.
    """
    currency = kernel.settings.currency

    async def attempt() -> tuple[dict[str, Any], bool]:
        async with kernel.db.transaction() as session:
            product = await _active_product(session, product_id)
            if quantity > product.stock:
                raise _out_of_stock(product, quantity)
            # The line as the upsert left it, answered by the upsert itself (RETURNING).
            upsert = _upsert(kernel.db.is_mysql, account_id, product_id, quantity)
            item = (await session.execute(upsert)).one()
            if item.quantity > product.stock:
                raise _out_of_stock(product, item.quantity)  # rolls the upsert back
            # An existing line held at least 1 before, so only a new line equals `quantity`.
            created = item.quantity == quantity
            return item_out(item.id, _line(item, product), currency), created

    return await with_retries(attempt)


async def _own_item(session: AsyncSession, account_id: int, item_id: int) -> CartItem:
    item = None
    if valid_id(item_id):
        item = (
            await session.execute(
                select(CartItem).where(CartItem.id == item_id, CartItem.account_id == account_id)
            )
        ).scalar_one_or_none()
    if item is None:
        raise NotFound(f"Cart item {item_id} does not exist.")
    return item


async def set_quantity(
    kernel: Kernel, account_id: int, item_id: int, quantity: int
) -> dict[str, Any]:
    currency = kernel.settings.currency

    async def attempt() -> dict[str, Any]:
        async with kernel.db.transaction() as session:
            item = await _own_item(session, account_id, item_id)
            product = await get_product(session, item.product_id)
            assert product is not None  # the foreign key keeps it
            if quantity > product.stock:
                raise _out_of_stock(product, quantity)
            await session.execute(
                update(CartItem)
                .where(CartItem.id == item.id)
                .values(quantity=quantity, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            line = PricedLine(product.id, product.sku, product.name, product.price, quantity)
            return item_out(item.id, line, currency)

    return await with_retries(attempt)


async def remove_item(kernel: Kernel, account_id: int, item_id: int) -> None:
    async def attempt() -> None:
        async with kernel.db.transaction() as session:
            result = await session.execute(
                delete(CartItem).where(
                    CartItem.id == item_id if valid_id(item_id) else false(),
                    CartItem.account_id == account_id,
                )
            )
            if rowcount(result) != 1:
                raise NotFound(f"Cart item {item_id} does not exist.")

    await with_retries(attempt)


# --- used by orders, inside the order's transaction ------------------------------------------


async def lock_lines(session: AsyncSession, account_id: int) -> list[tuple[int, int, int]]:
    """The cart's `(item_id, product_id, quantity)`, row-locked until the caller commits, so a
    concurrent add cannot slip between ordering the cart and emptying it."""
    rows = await session.execute(
        select(CartItem.id, CartItem.product_id, CartItem.quantity)
        .where(CartItem.account_id == account_id)
        .order_by(CartItem.id)
        .with_for_update()
    )
    return [(r.id, r.product_id, r.quantity) for r in rows]


async def remove_lines(session: AsyncSession, account_id: int, item_ids: Sequence[int]) -> None:
    """Delete exactly the lines that were ordered (the caller holds their locks)."""
    if item_ids:
        await session.execute(
            delete(CartItem).where(CartItem.account_id == account_id, CartItem.id.in_(item_ids))
        )
