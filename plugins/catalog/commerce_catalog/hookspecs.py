"""Hooks the catalog offers: stock allocation (a replaceable strategy), sold counts, and
product life-cycle events."""

from __future__ import annotations

from typing import Any

from commerce_kernel import Compose, hookspec


@hookspec(Compose.STRATEGY)
async def allocate_stock(session: Any, lines: list[tuple[int, int]]) -> list[dict[str, int]]:
    """Take stock for every `(product_id, quantity)` inside the caller's transaction.

    Called by whoever sells (orders) with its open session. Returns the shortfalls,
    `[{"product_id", "requested", "available"}]`; empty means everything was taken. When it
    is not empty the caller must roll the transaction back. Check and take happen in one
    statement per line (never check-then-write), in product id order to avoid deadlocks.
    STRATEGY: the last-loaded implementation replaces the catalog's default.
    """


@hookspec(Compose.STRATEGY)
async def release_stock(session: Any, lines: list[tuple[int, int]]) -> None:
    """Give back stock for every `(product_id, quantity)` inside the caller's transaction
    (a cancelled order). STRATEGY, paired with `allocate_stock`."""


@hookspec(Compose.BROADCAST)
async def record_units_sold(session: Any, changes: dict[int, int]) -> None:
    """Units sold changed by `{product_id: delta}` (positive on sale, negative on cancel),
    inside the caller's transaction. The catalog keeps `sold_count` with it; other plugins
    may keep their own figures. BROADCAST."""


@hookspec(Compose.BROADCAST, isolate=True)
async def product_created(kernel: Any, product: dict[str, Any]) -> None:
    """A product was created (after commit). `product` is its API representation."""


@hookspec(Compose.BROADCAST, isolate=True)
async def product_updated(kernel: Any, product: dict[str, Any], changed: list[str]) -> None:
    """A product was changed (after commit); `changed` names the fields whose value changed."""


@hookspec(Compose.BROADCAST, isolate=True)
async def product_retired(kernel: Any, product: dict[str, Any]) -> None:
    """A product was retired (DELETE; after commit). It stays in the database, inactive."""
