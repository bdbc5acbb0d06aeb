"""The promotions plugin's public API for other plugins: its promotion kinds and the admin
functions (each opens its own transaction and raises what the HTTP API answers).

Its discounts reach other plugins through the cart's `cart_adjustments` pipeline: a plugin
that requires `promotions` runs after it there and sees the discounted amounts (each
promotion's adjustment has the promotion's code, or `promotion:<id>` for an automatic one).
"""

from __future__ import annotations

from commerce_promotions.models import Kind
from commerce_promotions.schemas import PromotionIn, PromotionOut
from commerce_promotions.service import (
    create_promotion,
    deactivate_promotion,
    get_promotion,
    list_promotions,
    update_promotion,
)

__all__ = [
    "Kind",
    "PromotionIn",
    "PromotionOut",
    "create_promotion",
    "deactivate_promotion",
    "get_promotion",
    "list_promotions",
    "update_promotion",
]
