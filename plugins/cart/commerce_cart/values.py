"""The values the cart's `cart_adjustments` hook passes: priced lines and adjustments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from commerce_kernel.money import format_money


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


def as_adjustments(answer: Iterable[Adjustment | Mapping[str, object]]) -> list[Adjustment]:
    """One implementation's answer as Adjustments, before the next implementation sees it:
    a plain dict `{"code", "label", "amount"}` is accepted from plugins written without
    importing the cart."""
    out: list[Adjustment] = []
    for value in answer:
        if isinstance(value, Mapping):
            value = Adjustment(
                str(value["code"]), str(value["label"]), Decimal(str(value["amount"]))
            )
        if not isinstance(value, Adjustment):
            raise TypeError(f"cart_adjustments returned {type(value).__name__}, not an Adjustment")
        out.append(Adjustment(value.code, value.label, Decimal(value.amount)))
    return out
