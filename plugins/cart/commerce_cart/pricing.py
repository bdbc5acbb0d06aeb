"""Pricing a set of lines: subtotal, the adjustments other plugins contribute, and the total."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from commerce_cart import hookspecs
from commerce_cart.values import Adjustment, PricedLine
from commerce_kernel.money import quantum

if TYPE_CHECKING:
    from commerce_kernel import Kernel


@dataclass(frozen=True)
class Totals:
    """A priced set of lines: `total = subtotal + sum(adjustment amounts)`, never below zero."""

    lines: tuple[PricedLine, ...]
    subtotal: Decimal
    adjustments: tuple[Adjustment, ...]
    total: Decimal
    currency: str

    @property
    def items_count(self) -> int:
        return sum(line.quantity for line in self.lines)


def _round(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


async def compute_totals(
    kernel: Kernel,
    session: AsyncSession,
    account_id: int,
    lines: Sequence[PricedLine],
    *,
    placing: bool = False,
) -> Totals:
    """Subtotal of `lines`, then the `cart_adjustments` pipeline, then the total (>= 0).

    `placing` True means an order is being placed in `session`'s transaction (implementations
    may then spend something, e.g. mark a coupon used); False is a quote, in a session that is
    never committed. The adjustments come out rounded to the currency's minor unit.
    """
    currency = kernel.settings.currency
    subtotal = _round(sum((line.line_total for line in lines), Decimal(0)), currency)
    answered = await kernel.hooks.call(
        hookspecs.cart_adjustments,
        kernel=kernel,
        session=session,
        account_id=account_id,
        lines=tuple(lines),
        subtotal=subtotal,
        currency=currency,
        placing=placing,
        adjustments=[],
    )
    adjustments = tuple(Adjustment(a.code, a.label, _round(a.amount, currency)) for a in answered)
    total = subtotal + sum((a.amount for a in adjustments), Decimal(0))
    return Totals(tuple(lines), subtotal, adjustments, max(total, Decimal(0)), currency)
