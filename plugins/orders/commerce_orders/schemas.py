"""The orders plugin's request and response models (responses documented; handlers answer
dicts), and the typed dicts those answers are: what `get_order` returns and hooks receive."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypedDict

from pydantic import BaseModel, Field

from commerce_kernel.money import Money
from commerce_kernel.pagination import Page, PageQuery
from commerce_orders.models import OrderStatus

MAX_QUANTITY = 1_000_000
MAX_LINES = 500


class OrderItemIn(BaseModel):
    product_id: int
    quantity: int = Field(ge=1, le=MAX_QUANTITY, description="Units (at least 1).")


class PlaceOrderIn(BaseModel):
    items: list[OrderItemIn] | None = Field(
        None,
        min_length=1,
        max_length=MAX_LINES,
        description="What to buy; leave out to order the cart (which is then emptied).",
    )


class StatusIn(BaseModel):
    status: OrderStatus = Field(description="pending → paid → shipped → delivered; or cancelled")


class OrderLineOut(BaseModel):
    product_id: int
    sku: str
    name: str
    unit_price: Money
    quantity: int
    line_total: Money


class OrderAdjustmentOut(BaseModel):
    code: str
    label: str
    amount: Money


class OrderOut(BaseModel):
    id: int
    status: OrderStatus
    items: list[OrderLineOut] = Field(description="A snapshot taken when the order was placed.")
    subtotal: Money
    adjustments: list[OrderAdjustmentOut]
    total: Money
    currency: str
    created_at: datetime
    updated_at: datetime


class OrderPage(Page[OrderOut]):
    # No docstring: it would become the schema's description and change the OpenAPI document.
    pass


# A Literal rather than the enum: the kernel renders query parameter schemas inline, and an
# enum would become a `$ref` into `$defs` that the OpenAPI document does not have.
StatusName = Literal["pending", "paid", "shipped", "delivered", "cancelled"]


class OrderListQuery(PageQuery):
    status: StatusName | None = Field(None, description="Only orders in this status.")


# --- the API representation as typed dicts (money as strings, timestamps in RFC 3339) ----------


class OrderItemData(TypedDict):
    """A line of an order (`OrderLineOut`)."""

    product_id: int
    sku: str
    name: str
    unit_price: str
    quantity: int
    line_total: str


class AdjustmentData(TypedDict):
    """A price adjustment snapshotted with the order (`OrderAdjustmentOut`)."""

    code: str
    label: str
    amount: str


class OrderData(TypedDict):
    """An order as the API answers it (`OrderOut`)."""

    id: int
    status: str
    items: list[OrderItemData]
    subtotal: str
    adjustments: list[AdjustmentData]
    total: str
    currency: str
    created_at: str
    updated_at: str


class OrderWithAccount(OrderData):
    """An order as the `order_placed` and `order_status_changed` hooks receive it: the API
    representation plus the customer's account id."""

    account_id: int
