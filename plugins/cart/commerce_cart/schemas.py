"""The cart's request and response models (responses are documented; handlers answer dicts)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from commerce_kernel.bodies import Body, Whole
from commerce_kernel.money import Money

MAX_QUANTITY = 1_000_000


class CartItemIn(Body):
    product_id: Whole = Field(description="The product to add.")
    quantity: Whole = Field(ge=1, le=MAX_QUANTITY, description="Units to add (at least 1).")


class QuantityIn(Body):
    quantity: Whole = Field(ge=1, le=MAX_QUANTITY, description="The line's new quantity.")


class CartItemOut(BaseModel):
    id: int
    product_id: int
    sku: str
    name: str
    unit_price: Money = Field(description="The catalog's current price.")
    quantity: int
    line_total: Money


class CartOut(BaseModel):
    items: list[CartItemOut]
    items_count: int = Field(
        description="Units in the cart (two of one product and one of another is 3)."
    )
    subtotal: Money
    currency: str


class AdjustmentOut(BaseModel):
    code: str
    label: str
    amount: Money = Field(description="Signed: a discount is negative.")


class CartTotalOut(BaseModel):
    items_count: int
    subtotal: Money
    adjustments: list[AdjustmentOut]
    total: Money
    currency: str
