"""The promotions API's request and response models."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from commerce_kernel import MAX_INT_ID, Body, Money, Page
from commerce_promotions.models import CODE_MAX, PRODUCT_KINDS, Kind

_CODE = re.compile(r"^[A-Z0-9_-]+$")


def normalize_code(value: str) -> str:
    """Codes are case-insensitive: trimmed and upper-cased (`welcome10` is `WELCOME10`)."""
    code = value.strip().upper()
    if not code:
        raise ValueError("must not be empty")
    if len(code) > CODE_MAX:
        raise ValueError(f"must be at most {CODE_MAX} characters")
    if not _CODE.match(code):
        raise ValueError("may hold only letters, digits, '-' and '_'")
    return code


Code = Annotated[str, AfterValidator(normalize_code)]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must carry a time zone (e.g. 2026-06-01T00:00:00Z)")
    return value


When = Annotated[datetime | None, AfterValidator(_aware)]


class _Strict(Body):
    """Request bodies: unknown fields are a 422 naming them (the kernel's `Body`)."""


class PromotionIn(_Strict):
    """A promotion. `value` means a percentage for `percentage` and `product_percentage`
    (0 < value <= 100), an amount in the deployment's currency for `fixed` (off the subtotal)
    and `product_fixed` (off each unit of the chosen products); `buy_x_get_y` takes none and
    needs `buy_quantity` and `get_quantity`. Product kinds need `product_ids`."""

    code: Code | None = Field(
        None,
        description="What customers type (case-insensitive, stored upper-cased, unique; "
        "letters, digits, '-' and '_'). Leave it out for an automatic promotion, which "
        "applies to every cart it fits by itself.",
    )
    label: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="What the cart shows next to the discount; derived from the kind when "
        "left out (e.g. `10% off`).",
    )
    kind: Kind
    value: Money | None = Field(None, description="Percent or amount, see above.")
    product_ids: list[Annotated[int, Field(ge=1, le=MAX_INT_ID)]] = Field(
        default_factory=list, max_length=1000, description="The products a product kind is for."
    )
    buy_quantity: int | None = Field(None, ge=1, le=1000, description="buy_x_get_y: X.")
    get_quantity: int | None = Field(None, ge=1, le=1000, description="buy_x_get_y: Y.")
    minimum_subtotal: Money | None = Field(
        None, description="The cart's subtotal (before any discount) must reach it."
    )
    starts_at: When = Field(None, description="First moment it applies (none: already).")
    ends_at: When = Field(None, description="First moment it no longer applies (none: never).")
    usage_limit: int | None = Field(
        None,
        ge=1,
        le=MAX_INT_ID,
        description="Orders that may carry it in total (none: unlimited).",
    )
    per_customer_limit: int | None = Field(
        None,
        ge=1,
        le=MAX_INT_ID,
        description="Orders of one customer that may carry it (none: unlimited).",
    )
    combinable: bool = Field(
        True,
        description="False: exclusive, taken alone or not at all (when it takes more off "
        "than every combinable promotion together).",
    )
    active: bool = Field(True, description="False: deactivated, applies nowhere.")

    @model_validator(mode="after")
    def _consistent(self) -> PromotionIn:
        if self.kind == Kind.BUY_X_GET_Y:
            if self.buy_quantity is None or self.get_quantity is None:
                raise ValueError("buy_x_get_y needs buy_quantity and get_quantity")
            if self.value is not None:
                raise ValueError("buy_x_get_y takes no value (the free units are free)")
        else:
            if self.buy_quantity is not None or self.get_quantity is not None:
                raise ValueError("buy_quantity and get_quantity are for buy_x_get_y only")
            if self.value is None or self.value <= 0:
                raise ValueError(f"{self.kind.value} needs a value above 0")
            if self.kind in (Kind.PERCENTAGE, Kind.PRODUCT_PERCENTAGE) and self.value > 100:
                raise ValueError("a percentage is at most 100")
        if self.kind in PRODUCT_KINDS and not self.product_ids:
            raise ValueError(f"{self.kind.value} needs product_ids")
        if self.kind not in PRODUCT_KINDS and self.product_ids:
            raise ValueError(f"{self.kind.value} applies to the subtotal: no product_ids")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        self.product_ids = list(dict.fromkeys(self.product_ids))
        return self


class PromotionPatch(_Strict):
    """PATCH: only the fields sent change (`null` clears an optional one); the promotion as
    changed must still be valid as a whole (422 otherwise)."""

    code: Code | None = None
    label: str | None = Field(None, min_length=1, max_length=255)
    kind: Kind | None = None
    value: Money | None = None
    product_ids: list[Annotated[int, Field(ge=1, le=MAX_INT_ID)]] | None = Field(
        None, max_length=1000
    )
    buy_quantity: int | None = Field(None, ge=1, le=1000)
    get_quantity: int | None = Field(None, ge=1, le=1000)
    minimum_subtotal: Money | None = None
    starts_at: When = None
    ends_at: When = None
    usage_limit: int | None = Field(None, ge=1, le=MAX_INT_ID)
    per_customer_limit: int | None = Field(None, ge=1, le=MAX_INT_ID)
    combinable: bool | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null_flags(self) -> PromotionPatch:
        for name in ("kind", "combinable", "active", "product_ids", "label"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} must not be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class PromotionOut(BaseModel):
    """A promotion as admins see it; `used` counts the orders carrying it (cancelled ones
    given back)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str | None
    label: str
    kind: Kind
    value: Money | None
    product_ids: list[int]
    buy_quantity: int | None
    get_quantity: int | None
    minimum_subtotal: Money | None
    starts_at: datetime | None
    ends_at: datetime | None
    usage_limit: int | None
    per_customer_limit: int | None
    used: int
    combinable: bool
    active: bool
    created_at: datetime
    updated_at: datetime


class PromotionPage(Page[PromotionOut]):
    """A page of promotions, newest first."""


class ApplyCodeIn(_Strict):
    code: str = Field(min_length=1, max_length=255, description="The code (any case).")


class AppliedCodeOut(BaseModel):
    """A code in the customer's cart, and whether it applies to the cart as it is now."""

    code: str
    label: str
    applies: bool = Field(description="It would be taken into the total now.")
    amount: Money | None = Field(
        None, description="What it takes off now (negative, as in the total); null if nothing."
    )
    reason: str | None = Field(
        None,
        description="Why it does not apply now: inactive, not_yet_valid, expired, exhausted, "
        "per_customer_limit_reached, minimum_not_met, not_applicable, or not_combined (an "
        "exclusive promotion, or the combinable ones, take more off).",
    )
    detail: str | None = None


class AppliedCodesOut(BaseModel):
    codes: list[AppliedCodeOut]
