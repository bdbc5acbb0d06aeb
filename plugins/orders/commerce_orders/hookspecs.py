"""Hooks the orders plugin offers: facts about orders, announced after they are committed."""

from __future__ import annotations

from typing import Any

from commerce_kernel import Compose, hookspec


@hookspec(Compose.BROADCAST, isolate=True)
async def order_placed(kernel: Any, order: dict[str, Any]) -> None:
    """An order was placed. Called once, after its transaction committed (never for an order
    that was rolled back), in the process that placed it; `order` is its API representation
    (`{"id", "status", "items", "subtotal", "adjustments", "total", "currency", ...}`, money as
    strings) plus `"account_id"`. BROADCAST: every implementation runs, in plugin order; an
    error is logged and never undoes the order or changes the customer's answer. Slow work belongs in a
    task the implementation enqueues."""


@hookspec(Compose.BROADCAST, isolate=True)
async def order_status_changed(
    kernel: Any, order: dict[str, Any], old_status: str, new_status: str
) -> None:
    """An order moved from `old_status` to `new_status` (paid, shipped, delivered, cancelled),
    after that change committed. `order` is the API representation with the new status plus
    `"account_id"`. A cancellation has already given its stock and sold counts back.
    BROADCAST, like `order_placed`."""
