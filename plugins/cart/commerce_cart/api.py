"""The cart's public API for other plugins (orders, promotions): no HTTP, the caller's session."""

from __future__ import annotations

from commerce_cart.pricing import Adjustment, PricedLine, Totals, compute_totals
from commerce_cart.service import lock_lines, remove_lines, totals_out, valid_id

__all__ = [
    "Adjustment",
    "PricedLine",
    "Totals",
    "compute_totals",
    "lock_lines",
    "remove_lines",
    "totals_out",
    "valid_id",
]
