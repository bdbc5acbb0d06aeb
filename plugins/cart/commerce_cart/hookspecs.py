"""Hooks the cart offers: price adjustments (discounts, tax, shipping) composed as a pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from commerce_kernel import Compose, hookspec

if TYPE_CHECKING:
    from commerce_cart.pricing import Adjustment, PricedLine


@hookspec(Compose.PIPELINE, value="adjustments")
async def cart_adjustments(
    kernel: Any,
    session: Any,
    account_id: int,
    lines: Sequence[PricedLine],
    subtotal: Decimal,
    currency: str,
    adjustments: list[Adjustment],
) -> list[Adjustment] | None:
    """Add, change or drop price adjustments for a set of priced lines.

    Called whenever a total is computed: `GET /api/cart/total/` (read-only session) and when
    an order is placed (inside the order's transaction, so an implementation may write, e.g.
    mark a coupon used, and is rolled back with the order). `lines` are the priced lines
    (`commerce_cart.pricing.PricedLine`), `subtotal` their sum, `currency` the deployment's.

    PIPELINE: each implementation receives the list built so far in `adjustments` and returns
    the next list (usually `[*adjustments, Adjustment(code, label, amount)]`), or None to
    leave it unchanged. Amounts are signed Decimals in `currency` (a discount is negative);
    they are rounded to the currency's minor unit and `total = subtotal + sum(amounts)`,
    never below zero. Implementations run in plugin dependency order, so a tax plugin that
    requires a discount plugin sees the discount.
    """
