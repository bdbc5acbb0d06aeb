"""The promotions plugin: coupon codes and automatic discounts priced through the cart's
`cart_adjustments` hook, redeemed with the order and given back when it is cancelled."""

from __future__ import annotations

__version__ = "0.1.0"
