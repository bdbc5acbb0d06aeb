"""The orders plugin's request and response models (responses documented; handlers answer
dicts), and the typed dicts those answers are: what `get_order` returns and hooks receive."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, TypedDict

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, field_validator

from commerce_kernel.bodies import Body, Whole
from commerce_kernel.identity import normalize_email
from commerce_kernel.money import Money
from commerce_kernel.pagination import Page, PageQuery
from commerce_orders.models import OrderStatus

MAX_QUANTITY = 1_000_000
MAX_LINES = 500


class OrderItemIn(Body):
    product_id: Whole
    quantity: Whole = Field(ge=1, le=MAX_QUANTITY, description="Units (at least 1).")


class PlaceOrderIn(Body):
    items: list[OrderItemIn] | None = Field(
        None,
        min_length=1,
        max_length=MAX_LINES,
        description="What to buy; leave out to order the cart (which is then emptied).",
    )


class StatusIn(Body):
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


class CustomerOut(BaseModel):
    id: int
    email: str = Field(description="The account's email, in its canonical form.")


class OrderOut(BaseModel):
    id: int
    status: OrderStatus
    customer: CustomerOut = Field(
        description="Who placed the order (a customer only ever sees their own orders)."
    )
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


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
TIMESTAMP_RULE = "an RFC 3339 timestamp with an offset, such as 2026-05-01T00:00:00Z"


def _rfc3339(value: object) -> object:
    """Only RFC 3339 (pydantic alone would also take a bare date or a Unix time)."""
    if isinstance(value, str):
        # An unescaped `+` in a query string arrives as a space: `...T10:00:00 02:00`.
        text = re.sub(r" (\d{2}:\d{2})$", r"+\1", value.strip())
        if _RFC3339.fullmatch(text):
            return text
    raise ValueError(f"must be {TIMESTAMP_RULE}")


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


class OrderListQuery(PageQuery):
    status: StatusName | None = Field(None, description="Only orders in this status.")
    customer_id: int | None = Field(
        None, ge=1, description="Admins only (403 for a customer): orders of this account."
    )
    customer_email: str | None = Field(
        None,
        min_length=1,
        max_length=254,
        description="Admins only (403 for a customer): orders of the account with this email, "
        "compared in canonical form (case, Unicode and IDNA spellings of one address match; "
        "what is no address matches no account).",
    )
    created_after: Timestamp | None = Field(
        None, description=f"Orders placed at or after this instant ({TIMESTAMP_RULE})."
    )
    created_before: Timestamp | None = Field(
        None, description=f"Orders placed before this instant, exclusive ({TIMESTAMP_RULE})."
    )

    @field_validator("customer_email")
    @classmethod
    def _canonical(cls, value: str | None) -> str | None:
        # The form accounts are stored in (`canonical_email`, or the account look-ups' fallback).
        return None if value is None else normalize_email(value)


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


class CustomerData(TypedDict):
    """Who placed an order (`CustomerOut`)."""

    id: int
    email: str


class OrderData(TypedDict):
    """An order as the API answers it (`OrderOut`)."""

    id: int
    status: str
    customer: CustomerData
    items: list[OrderItemData]
    subtotal: str
    adjustments: list[AdjustmentData]
    total: str
    currency: str
    created_at: str
    updated_at: str


class OrderWithAccount(OrderData):
    """An order as the `order_placed` and `order_status_changed` hooks receive it: the API
    representation plus the customer's account id (also `customer["id"]`)."""

    account_id: int
