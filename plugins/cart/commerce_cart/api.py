"""The cart's public API for other plugins (orders, promotions): no HTTP, the caller's session.

`hooks` is the cart's hook specs (`kernel.hooks.call(hooks.cart_adjustments, ...)`, or an
implementation named `cart_adjustments`); `PricedLine`, `Adjustment` and `Totals` are the
values they pass; `compute_totals` prices lines the way `GET /api/cart/total/` does,
`cart_lines` reads a customer's priced cart (no lock), and `lock_lines` / `remove_lines` let
an order take the cart inside its own transaction.
"""

from __future__ import annotations

from commerce_cart import hookspecs as hooks
from commerce_cart.pricing import Totals, compute_totals
from commerce_cart.service import cart_lines, lock_lines, remove_lines, totals_out, valid_id
from commerce_cart.values import Adjustment, PricedLine, as_adjustments

__all__ = [
    "Adjustment",
    "PricedLine",
    "Totals",
    "as_adjustments",
    "cart_lines",
    "compute_totals",
    "hooks",
    "lock_lines",
    "remove_lines",
    "totals_out",
    "valid_id",
]
