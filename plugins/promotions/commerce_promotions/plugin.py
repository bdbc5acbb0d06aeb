"""The promotions plugin module (its entry point): the declaration and every hook it
implements. It lives entirely on public hooks: the cart's `cart_adjustments` prices the
discounts, the orders plugin's `order_recording` and `order_status_changing` record and give
back their uses inside the order's own transactions."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from commerce_cart.api import Adjustment, PricedLine
from commerce_orders.api import OrderStatus, OrderWithAccount
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute

from commerce_kernel import Kernel, Plugin, hookimpl
from commerce_promotions import __version__, service
from commerce_promotions.routes import build_routes

plugin = Plugin(
    name="promotions",
    version=__version__,
    requires=("cart", "orders"),
    kernel=">=0.1,<0.2",
    description="Coupon codes and automatic discounts, with limits that hold under concurrency.",
)


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return build_routes()


@hookimpl
async def cart_adjustments(
    kernel: Kernel,
    session: AsyncSession,
    account_id: int,
    lines: Sequence[PricedLine],
    subtotal: Decimal,
    placing: bool,
    adjustments: list[Adjustment],
) -> list[Adjustment] | None:
    """Every promotion taken into this total, one adjustment each (negative), automatic ones
    first; placing an order claims their uses in the order's transaction."""
    payable = subtotal + sum((a.amount for a in adjustments), Decimal(0))
    offers = await service.price(kernel, session, account_id, lines, subtotal, placing, payable)
    if not offers:
        return None
    return [*adjustments, *(Adjustment(o.code, o.promotion.label, -o.amount) for o in offers)]


@hookimpl
async def order_recording(kernel: Kernel, session: AsyncSession, order: OrderWithAccount) -> None:
    await service.record(session, order)


@hookimpl
async def order_status_changing(
    kernel: Kernel, session: AsyncSession, order: OrderWithAccount, new_status: str
) -> None:
    if new_status == OrderStatus.CANCELLED:
        await service.give_back(session, order)
