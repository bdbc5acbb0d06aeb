"""Hooks the orders plugin offers: facts about orders, announced after they are committed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from commerce_kernel import Compose, hookspec

if TYPE_CHECKING:
    from commerce_kernel import Kernel
    from commerce_orders.schemas import OrderWithAccount


@hookspec(Compose.BROADCAST, isolate=True)
async def order_placed(kernel: Kernel, event_id: str, order: OrderWithAccount) -> None:
    """An order was placed: an after-commit event (`commerce_kernel.events`), never announced
    for an order that was rolled back. `order` is its API representation
    (`commerce_orders.api.OrderData`: `{"id", "status", "items", "subtotal", "adjustments",
    "total", "currency", ...}`, money and times as strings) plus `"account_id"`.

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
