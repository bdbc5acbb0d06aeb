"""Pricing a set of lines: subtotal, the adjustments other plugins contribute, and the total."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from commerce_kernel.money import format_money, quantum


@dataclass(frozen=True)
class PricedLine:
    """One product at its current price, as the cart and a new order see it."""

    product_id: int
    sku: str
    name: str
    unit_price: Decimal
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Adjustment:
    """A signed change to the total (discount < 0, tax or shipping > 0) from a plugin."""

    code: str
    label: str
    amount: Decimal

    def to_dict(self, currency: str) -> dict[str, str]:
        return {
            "code": self.code,
            "label": self.label,
            "amount": format_money(self.amount, currency),
        }


@dataclass(frozen=True)
class Totals:
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


def _adjustment(value: Any, currency: str) -> Adjustment:
    # Accept plain dicts from implementations written without importing this module.
    if isinstance(value, dict):
        value = Adjustment(str(value["code"]), str(value["label"]), Decimal(str(value["amount"])))
    if not isinstance(value, Adjustment):
        raise TypeError(f"cart_adjustments returned {type(value).__name__}, not an Adjustment")
    return Adjustment(value.code, value.label, _round(Decimal(value.amount), currency))


async def compute_totals(
    kernel: Any, session: Any, account_id: int, lines: Sequence[PricedLine]
) -> Totals:
    """Subtotal of `lines`, then the `cart_adjustments` pipeline, then the total (>= 0)."""
    currency = kernel.settings.currency
    subtotal = _round(sum((line.line_total for line in lines), Decimal(0)), currency)
    raw = await kernel.hooks.call(
        "cart_adjustments",
        kernel=kernel,
        session=session,
        account_id=account_id,
        lines=tuple(lines),
        subtotal=subtotal,
        currency=currency,
        adjustments=[],
    )
    adjustments = tuple(_adjustment(a, currency) for a in raw or ())
    total = subtotal + sum((a.amount for a in adjustments), Decimal(0))
    return Totals(tuple(lines), subtotal, adjustments, max(total, Decimal(0)), currency)
