"""The arithmetic of promotions, with no database: whether one applies to a set of priced
lines (and why not), what it takes off, and which of several are taken together.

Money is exact `Decimal`. Each promotion's amount is computed exactly, rounded half-up to the
currency's minor unit once, then capped so that no line and no total goes below zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from commerce_cart.api import PricedLine

from commerce_kernel.db import rfc3339
from commerce_kernel.money import format_money, quantum
from commerce_promotions.models import PRODUCT_KINDS, Kind, Promotion

HUNDRED = Decimal(100)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Refusal:
    """Why a promotion does not apply: a stable `reason` and a sentence for people."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Offer:
    """A promotion taken into a total, with what it takes off (positive)."""

    promotion: Promotion
    amount: Decimal

    @property
    def code(self) -> str:
        return adjustment_code(self.promotion)


def adjustment_code(promotion: Promotion) -> str:
    """The adjustment's code: the promotion's code, or `promotion:<id>` for an automatic one
    (codes cannot contain `:`)."""
    return promotion.code or f"promotion:{promotion.id}"


def _name(promotion: Promotion) -> str:
    return promotion.code or promotion.label


def refusal(
    promotion: Promotion,
    *,
    now: datetime,
    customer_uses: int,
    subtotal: Decimal,
    lines: Sequence[PricedLine],
    currency: str,
) -> Refusal | None:
    """None when the promotion applies to these lines for this customer now; otherwise the
    first reason it does not, in this order: inactive, not_yet_valid, expired, exhausted,
    per_customer_limit_reached, minimum_not_met, not_applicable."""
    name = _name(promotion)
    if not promotion.active:
        return Refusal("inactive", f"{name} is no longer offered.")
    if promotion.starts_at is not None and now < promotion.starts_at:
        when = rfc3339(promotion.starts_at)
        return Refusal("not_yet_valid", f"{name} is not valid before {when}.")
    if promotion.ends_at is not None and now >= promotion.ends_at:
        when = rfc3339(promotion.ends_at)
        return Refusal("expired", f"{name} expired at {when}.")
    if promotion.usage_limit is not None and promotion.used >= promotion.usage_limit:
        return Refusal("exhausted", f"{name} has been used up.")
    limit = promotion.per_customer_limit
    if limit is not None and customer_uses >= limit:
        uses = "1 use" if limit == 1 else f"{limit} uses"
        return Refusal(
            "per_customer_limit_reached",
            f"You have already used {name} ({uses} per customer).",
        )
    minimum = promotion.minimum_subtotal
    if minimum is not None and subtotal < minimum:
        return Refusal(
            "minimum_not_met",
            f"{name} needs a subtotal of at least {format_money(minimum, currency)}; "
            f"the cart's is {format_money(subtotal, currency)}.",
        )
    if promotion.kind in PRODUCT_KINDS and not _line_discounts(promotion, lines, currency):
        return Refusal("not_applicable", f"{name} applies to none of the products in the cart.")
    return None


def _round(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def _line_discounts(
    promotion: Promotion, lines: Sequence[PricedLine], currency: str
) -> dict[int, Decimal]:
    """A product promotion's discount on each line it touches (exact, before rounding), each
    at most the line's total; lines it takes nothing off are left out."""
    chosen = set(promotion.product_ids)
    value = promotion.value or ZERO
    out: dict[int, Decimal] = {}
    for index, line in enumerate(lines):
        if line.product_id not in chosen:
            continue
        if promotion.kind == Kind.PRODUCT_PERCENTAGE:
            amount = line.line_total * value / HUNDRED
        elif promotion.kind == Kind.PRODUCT_FIXED:
            amount = value * line.quantity
        else:  # buy_x_get_y: of every (buy + get) units, `get` are free
            buy, get = promotion.buy_quantity or 0, promotion.get_quantity or 0
            free = (line.quantity // (buy + get)) * get if buy + get > 0 else 0
            amount = line.unit_price * free
        amount = min(amount, line.line_total)
        if amount > 0:
            out[index] = amount
    return out


def take(
    offers: Sequence[Promotion],
    lines: Sequence[PricedLine],
    payable: Decimal,
    currency: str,
) -> list[Offer]:
    """The promotions taken one after another, in the order given: each one's amount rounded
    half-up to the minor unit, then capped at what is left of the lines it touches and of the
    total. One that has nothing left to take is left out."""
    left_total = max(payable, ZERO)
    left_line = [line.line_total for line in lines]
    taken: list[Offer] = []
    for promotion in offers:
        if promotion.kind in PRODUCT_KINDS:
            per_line = _line_discounts(promotion, lines, currency)
            amount = _round(sum(per_line.values(), ZERO), currency)
            amount = min(amount, sum((left_line[i] for i in per_line), ZERO), left_total)
            # What this one took comes off its lines, first to last, for the ones after it.
            rest = amount
            for i in per_line:
                step = min(rest, left_line[i])
                left_line[i] -= step
                rest -= step
        else:
            subtotal = sum((line.line_total for line in lines), ZERO)
            if promotion.kind == Kind.PERCENTAGE:
                amount = _round(subtotal * (promotion.value or ZERO) / HUNDRED, currency)
            else:
                amount = _round(promotion.value or ZERO, currency)
            amount = min(amount, left_total)
        if amount <= 0:
            continue
        left_total -= amount
        taken.append(Offer(promotion, amount))
    return taken


def compose(
    eligible: Sequence[Promotion],
    lines: Sequence[PricedLine],
    payable: Decimal,
    currency: str,
) -> list[Offer]:
    """Which of the eligible promotions (automatic ones first, then codes in the order they
    were applied) are taken: either every combinable one together, or one non-combinable one
    alone, whichever takes the most off. A tie goes to the combinable ones, then to the
    earliest non-combinable one."""
    combinable = take([p for p in eligible if p.combinable], lines, payable, currency)
    best, best_amount = combinable, sum((o.amount for o in combinable), ZERO)
    for promotion in eligible:
        if promotion.combinable:
            continue
        alone = take([promotion], lines, payable, currency)
        amount = sum((o.amount for o in alone), ZERO)
        if amount > best_amount:
            best, best_amount = alone, amount
    return best


def percent(value: Decimal) -> str:
    """`10` for 10.00, `12.5` for 12.50: a percentage as a label shows it."""
    text = str(value.quantize(Decimal("0.01"), rounding=ROUND_DOWN))
    return text.rstrip("0").rstrip(".") if "." in text else text
