"""Hooks the orders plugin offers: steps inside an order's transaction (`order_recording`,
`order_status_changing`: what a plugin writes there commits or rolls back with the order) and
facts about orders, announced after they are committed (`order_placed`,
`order_status_changed`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from commerce_kernel import Compose, hookspec

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from commerce_kernel import Kernel
    from commerce_orders.schemas import OrderWithAccount


@hookspec(Compose.BROADCAST)
async def order_recording(kernel: Kernel, session: AsyncSession, order: OrderWithAccount) -> None:
    """An order is being placed: its row and lines exist in `session`'s transaction (so
    `order["id"]` can be referenced), not yet committed. Write what belongs with the order
    (a promotion's redemption, a reservation) here: it commits with the order, or not at all.
    An error rolls the whole order back and reaches the customer (raise a `Problem` for a
    4xx). Its adjustments are priced already (`cart_adjustments(placing=True)` ran in the
    same transaction)."""


@hookspec(Compose.BROADCAST)
async def order_status_changing(
    kernel: Kernel, session: AsyncSession, order: OrderWithAccount, old_status: str, new_status: str
) -> None:
    """An order is moving from `old_status` to `new_status` inside `session`'s transaction
    (a cancellation has given its stock back already): undo or follow up what belongs with
    the order (give a promotion's use back on `cancelled`). An error rolls the move back."""


@hookspec(Compose.BROADCAST, isolate=True)
async def order_placed(kernel: Kernel, event_id: str, order: OrderWithAccount) -> None:
    """An order was placed: an after-commit event (`commerce_kernel.events`), never announced
    for an order that was rolled back. `order` is its API representation
    (`commerce_orders.api.OrderData`: `{"id", "status", "customer": {"id", "email"}, "items",
    "subtotal", "adjustments", "total", "currency", ...}`, money and times as strings) plus
    `"account_id"`.

    An ordinary listener (`@hookimpl`) runs once, in the process that placed the order, right
    after commit; an error is logged and never undoes the order or changes the customer's
    answer, and a crash at that moment loses the call. A listener that must not lose an order
    (points, webhooks, an ERP) is marked `@durable @hookimpl`: its delivery row is written in
    the order's own transaction and a task calls it until it succeeds, at least once, with the
    same `event_id` every time (be idempotent by it). Slow work belongs in the durable form."""


@hookspec(Compose.BROADCAST, isolate=True)
async def order_status_changed(
    kernel: Kernel, event_id: str, order: OrderWithAccount, old_status: str, new_status: str
) -> None:
    """An order moved from `old_status` to `new_status` (paid, shipped, delivered, cancelled),
    after that change committed. `order` is the API representation with the new status plus
    `"account_id"`. A cancellation has already given its stock and sold counts back.
    An after-commit event with an ordinary and a durable form, like `order_placed`."""
