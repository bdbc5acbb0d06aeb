"""Hooks the cart offers: price adjustments (discounts, tax, shipping) composed as a pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from commerce_cart.values import Adjustment, PricedLine, as_adjustments
from commerce_kernel import Compose, hookspec

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from commerce_kernel import Kernel


@hookspec(Compose.PIPELINE, value="adjustments", coerce=as_adjustments)
async def cart_adjustments(
    kernel: Kernel,
    session: AsyncSession,
    account_id: int,
    lines: Sequence[PricedLine],
    subtotal: Decimal,
    currency: str,
    placing: bool,
    adjustments: list[Adjustment],
) -> list[Adjustment]:
    """Add, change or drop price adjustments for a set of priced lines.

    Called whenever a total is computed, in one of two transaction contexts that `placing`
    tells apart:

    - `placing=False`, a quote (`GET /api/cart/total/`): `session` is read-only in effect, it
      is never committed; write nothing that must last (and spend nothing).
    - `placing=True`, an order being placed: `session` is the order's own open transaction, so
      an implementation may write (mark a coupon used, take a limited offer) and is committed
      or rolled back with the order. The same implementation may run more than once for one
      order when a deadlock re-runs the transaction; only the committed run counts.

    `lines` are the priced lines (`commerce_cart.api.PricedLine`), `subtotal` their sum,
    `currency` the deployment's.

    PIPELINE: each implementation receives the list built so far in `adjustments` and returns
    the next list (usually `[*adjustments, Adjustment(code, label, amount)]`, with
    `commerce_cart.api.Adjustment`), or None to leave it unchanged. Amounts are signed
    Decimals in `currency` (a discount is negative). A plain dict
    `{"code", "label", "amount"}` is accepted in place of an Adjustment and turned into one
    before the next implementation runs, so every implementation receives Adjustments; the
    cart rounds the final list to the currency's minor unit and computes
    `total = subtotal + sum(amounts)`, never below zero. Implementations run in
    plugin dependency order, so a tax plugin that requires a discount plugin sees the
    discount. The caller receives the final list (`[]` when nobody adjusts).
    """
    raise NotImplementedError
