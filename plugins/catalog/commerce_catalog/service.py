"""Products: create, change, retire, read and list; events after commit. No HTTP here."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import bindparam, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import UnaryExpression

from commerce_catalog import hookspecs, search
from commerce_catalog.models import Product
from commerce_catalog.schemas import ProductData, ProductOut
from commerce_kernel import Kernel
from commerce_kernel.db import rfc3339, utcnow_seconds
from commerce_kernel.errors import Conflict, NotFound
from commerce_kernel.money import format_money

logger = logging.getLogger("commerce.catalog")

WRITABLE = ("sku", "name", "description", "price", "stock", "is_active")
_ORDER_FIELDS = ("name", "price", "created_at", "sold_count", "stock")
_ACTIVE_INDEXES = [f"ix_products_active_{field}" for field in _ORDER_FIELDS]
_ORDER_COLUMNS = {
    "name": Product.name,
    "price": Product.price,
    "created_at": Product.created_at,
    "sold_count": Product.sold_count,
    "stock": Product.stock,
}


def to_out(product: Product, currency: str) -> ProductOut:
    return ProductOut(
        id=product.id,
        sku=product.sku,
        name=product.name,
        description=product.description,
        price=product.price,
        currency=currency,
        stock=product.stock,
        sold_count=product.sold_count,
        is_active=product.is_active,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


# What a product read sends for: the columns of ProductOut (not the search columns).
PUBLIC_COLUMNS = (
    Product.id,
    Product.sku,
    Product.name,
    Product.description,
    Product.price,
    Product.stock,
    Product.sold_count,
    Product.is_active,
    Product.created_at,
    Product.updated_at,
)
_BY_ID = select(*PUBLIC_COLUMNS).where(Product.id == bindparam("id"))


def product_json(row: Any, currency: str) -> dict[str, Any]:
    """`ProductOut` as the API sends it (its JSON-mode dump, key for key), built straight
    from a row of `PUBLIC_COLUMNS`: the hot reads skip the model's validation and dump, as
    they skip the ORM (the values are the database's, already of the column types).
    `tests` hold the two equal."""
    return {
        "id": row.id,
        "sku": row.sku,
        "name": row.name,
        "description": row.description,
        "price": format_money(row.price),
        "currency": currency,
        "stock": row.stock,
        "sold_count": row.sold_count,
        "is_active": row.is_active,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }


def data_of(out: ProductOut) -> ProductData:
    """The API representation as plain JSON data (what product hooks receive)."""
    # pydantic's JSON-mode dump of ProductOut has exactly ProductData's keys and types.
    return cast(ProductData, out.model_dump(mode="json"))


def representation(product: Product, currency: str) -> ProductData:
    return data_of(to_out(product, currency))


def _duplicate(sku: str) -> Conflict:
    return Conflict(f"A product with SKU {sku!r} already exists.", sku=sku)


async def create_product(kernel: Kernel, data: dict[str, Any]) -> ProductOut:
    """Create a product from validated fields; a taken SKU → Conflict (409)."""
    stamp = utcnow_seconds()
    product = Product(
        sku=data["sku"],
        name=data["name"],
        description=data.get("description", ""),
        price=data["price"],
        stock=data.get("stock", 0),
        sold_count=0,
        is_active=data.get("is_active", True),
        created_at=stamp,
        updated_at=stamp,
    )
    try:
        async with kernel.db.transaction() as session:
            session.add(product)
            await session.flush()
            out = to_out(product, kernel.settings.currency)
            await kernel.events.record(session, hookspecs.product_created, product=data_of(out))
    except IntegrityError:
        # The unique SKU index decides, so two concurrent creates cannot both win.
        raise _duplicate(data["sku"]) from None
    return out


def _no_such_product(product_id: int) -> NotFound:
    # The cart's and the orders' wording too: one sentence for one fact.
    return NotFound(f"Product {product_id} does not exist.", product_id=product_id)


async def _locked(session: AsyncSession, product_id: int) -> Product:
    product = (
        await session.execute(select(Product).where(Product.id == product_id).with_for_update())
    ).scalar_one_or_none()
    if product is None:
        raise _no_such_product(product_id)
    return product


async def update_product(kernel: Kernel, product_id: int, changes: dict[str, Any]) -> ProductOut:
    """Change the given fields (PUT sends all of them, PATCH some)."""
    changed: list[str] = []
    try:
        async with kernel.db.transaction() as session:
            product = await _locked(session, product_id)
            for field in WRITABLE:
                if field in changes and getattr(product, field) != changes[field]:
                    setattr(product, field, changes[field])
                    changed.append(field)
            if changed:
                product.updated_at = utcnow_seconds()
                await session.flush()
            out = to_out(product, kernel.settings.currency)
            if changed:
                await kernel.events.record(
                    session, hookspecs.product_updated, product=data_of(out), changed=changed
                )
    except IntegrityError:
        raise _duplicate(changes.get("sku", "")) from None
    return out


async def retire_product(kernel: Kernel, product_id: int) -> None:
    """Retire (never erase): past orders keep pointing at it. Retiring twice is a no-op."""
    async with kernel.db.transaction() as session:
        product = await _locked(session, product_id)
        if product.is_active:
            product.is_active = False
            product.updated_at = utcnow_seconds()
            await kernel.events.record(
                session,
                hookspecs.product_retired,
                product=representation(product, kernel.settings.currency),
            )


async def get_product(kernel: Kernel, product_id: int, *, include_inactive: bool) -> dict[str, Any]:
    """The product as the API shows it (`ProductOut`'s JSON): one Core statement."""
    row = await kernel.db.fetch_one(_BY_ID, {"id": product_id})
    if row is None or (not row.is_active and not include_inactive):
        raise _no_such_product(product_id)
    return product_json(row, kernel.settings.currency)


@dataclass(frozen=True)
class ProductFilter:
    """What a product list asks for (the parsed query string)."""

    include_inactive: bool = False
    search: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    ordering: tuple[tuple[str, bool], ...] = ()


def filtered(query: Select[Any], f: ProductFilter, mysql: bool) -> Select[Any]:
    if not f.include_inactive:
        # `= true`, not `IS TRUE`: MariaDB uses the (is_active, field) indexes only for `=`.
        query = query.where(Product.is_active == true())
    if f.search and f.search.strip():
        query = query.where(search.condition(f.search, mysql))
    if f.min_price is not None:
        query = query.where(Product.price >= f.min_price)
    if f.max_price is not None:
        query = query.where(Product.price <= f.max_price)
    if f.in_stock is True:
        query = query.where(Product.stock > 0)
    elif f.in_stock is False:
        query = query.where(Product.stock <= 0)
    return query


def ordered(query: Select[Any], ordering: tuple[tuple[str, bool], ...]) -> Select[Any]:
    clauses: list[UnaryExpression[Any]] = [
        _ORDER_COLUMNS[field].desc() if desc else _ORDER_COLUMNS[field].asc()
        for field, desc in ordering
    ]
    # The id tiebreaker follows the last field's direction, so a one-field ordering is a
    # plain forward or backward walk of the (is_active, field) index (which ends in the id).
    last_desc = ordering[-1][1] if ordering else False
    clauses.append(Product.id.desc() if last_desc else Product.id.asc())
    return query.order_by(*clauses)


@functools.lru_cache(maxsize=256)
def list_statements(f: ProductFilter, mysql: bool, offset: int, limit: int) -> tuple[Any, Any]:
    """The count and page statements of a product list (the benchmark explains them). Kept
    for the lists asked most (statements are immutable; building one and its cache key cost
    more than running it for a page of 20): at most 256, the least recently asked dropped."""
    count = filtered(select(func.count()).select_from(Product), f, mysql)
    columns = cast(Select[Any], select(*PUBLIC_COLUMNS))
    page = ordered(filtered(columns, f, mysql), f.ordering).offset(offset).limit(limit)
    if mysql and len(f.ordering) > 1 and not f.search and f.min_price is f.max_price is None:
        # No index gives this order: MariaDB would walk an (is_active, x) index and fetch every
        # row by id (77 s at 10^6 rows with a 128 MB buffer pool); a table scan + sort is ~3 s.
        page = page.with_hint(Product, f"IGNORE INDEX ({', '.join(_ACTIVE_INDEXES)})", "mysql")
    return count, page


async def list_products(
    kernel: Kernel, f: ProductFilter, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """The count and one page, each product as `ProductOut`'s JSON; Core statements."""
    count_stmt, page_stmt = list_statements(f, kernel.db.is_mysql, offset, limit)
    async with kernel.db.reads() as reads:
        count = (await reads.one(count_stmt))[0]
        rows = await reads.all(page_stmt) if offset < count else []
    currency = kernel.settings.currency
    return count, [product_json(row, currency) for row in rows]
