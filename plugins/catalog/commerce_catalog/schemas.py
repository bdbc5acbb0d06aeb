"""Request and response models of the catalog API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypedDict

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    field_validator,
    model_validator,
)

from commerce_kernel.bodies import Body, Whole
from commerce_kernel.errors import BadRequest
from commerce_kernel.money import Money
from commerce_kernel.pagination import Page, PageQuery

SKU_MAX = 64
NAME_MAX = 255
DESCRIPTION_MAX = 20_000
ORDERING_FIELDS = ("name", "price", "created_at", "sold_count", "stock")


def normalize_sku(value: str) -> str:
    """SKUs are case-insensitive: trimmed and upper-cased, so `ab-1` and `AB-1` are one SKU."""
    sku = value.strip().upper()
    if not sku:
        raise ValueError("must not be empty")
    if len(sku) > SKU_MAX:
        raise ValueError(f"must be at most {SKU_MAX} characters")
    if any(not ch.isprintable() for ch in sku):
        raise ValueError("must not contain control characters")
    return sku


def normalize_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise ValueError("must not be empty")
    if len(name) > NAME_MAX:
        raise ValueError(f"must be at most {NAME_MAX} characters")
    return name


def normalize_description(value: str) -> str:
    if len(value) > DESCRIPTION_MAX:
        raise ValueError(f"must be at most {DESCRIPTION_MAX} characters")
    return value.strip()


Sku = Annotated[
    str,
    AfterValidator(normalize_sku),
    Field(
        description="Stock-keeping unit, 1-64 characters; trimmed and upper-cased "
        "(SKUs are case-insensitive). Unique.",
        examples=["TEE-RED-M"],
    ),
]
Name = Annotated[str, AfterValidator(normalize_name), Field(examples=["Red T-shirt"])]
Description = Annotated[str, AfterValidator(normalize_description)]
# A whole number as JSON writes it: "1", 1.0 and true are refused, not coerced.
Stock = Annotated[Whole, Field(ge=0, le=2_000_000_000, description="Units in stock")]


class _Strict(Body):
    # Read-only fields sent back from a GET are dropped; any other unknown field is a 422.
    ignored = frozenset({"id", "currency", "sold_count", "created_at", "updated_at"})

    @field_validator("stock", mode="before", check_fields=False)
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # JSON 2.5 or true are not a stock level; pydantic would coerce some of them.
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number")
        return value


class ProductCreate(_Strict):
    """A new product. `description`, `stock` and `is_active` have defaults."""

    sku: Sku
    name: Name
    description: Description = ""
    price: Money
    stock: Stock = 0
    is_active: bool = True


class ProductReplace(_Strict):
    """PUT: every writable field is required (a full replacement)."""

    sku: Sku
    name: Name
    description: Description
    price: Money
    stock: Stock
    is_active: bool


class ProductPatch(_Strict):
    """PATCH: only the fields sent change; `null` is not a value for any of them."""

    sku: Sku | None = None
    name: Name | None = None
    description: Description | None = None
    price: Money | None = None
    stock: Stock | None = None
    is_active: bool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> ProductPatch:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} must not be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class ProductOut(BaseModel):
    """A product as the API shows it."""

    id: int
    sku: str
    name: str
    description: str
    price: Money
    currency: str = Field(description="ISO 4217, one per deployment")
    stock: int
    sold_count: int
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ProductQuery(PageQuery):
    """Filters, search and ordering of the product list."""

    search: str | None = Field(
        None,
        max_length=200,
        description="Whitespace-separated terms; each must occur, case-insensitively, in the "
        "name, SKU or description (substring match).",
    )
    ordering: str | None = Field(
        None,
        max_length=200,
        description="Comma-separated fields among name, price, created_at, sold_count, stock; "
        "`-` for descending. Ties are broken by id. Default: id. Unknown field → 400.",
    )
    min_price: Money | None = Field(None, description="Price at least this (decimal string)")
    max_price: Money | None = Field(None, description="Price at most this (decimal string)")
    in_stock: bool | None = Field(
        None, description="true: only products with stock; false: only products without"
    )


class ProductData(TypedDict):
    """A product as the API shows it, as plain JSON data (`ProductOut` dumped in JSON mode):
    what the product hooks receive. Money and timestamps are strings."""

    id: int
    sku: str
    name: str
    description: str
    price: str
    currency: str
    stock: int
    sold_count: int
    is_active: bool
    created_at: str
    updated_at: str


class SoldCount(TypedDict):
    """One product's units sold after a change (hook `sold_counts_changed`): `version` grows
    by one with every change of the figure, in commit order."""

    product_id: int
    sold: int
    version: int


# No docstring: the OpenAPI schema `ProductPage` has never had a description.
class ProductPage(Page[ProductOut]):
    pass


def parse_ordering(value: str | None) -> list[tuple[str, bool]]:
    """`"-price,name"` → `[("price", True), ("name", False)]` (field, descending)."""
    if not value:
        return []
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        descending = part.startswith("-")
        field = part[1:] if descending else part
        if field not in ORDERING_FIELDS:
            raise BadRequest(
                f"Unknown ordering field {field!r}; use {', '.join(ORDERING_FIELDS)} "
                "(prefix - for descending)."
            )
        if field not in seen:
            seen.add(field)
            out.append((field, descending))
    return out


class BulkAccepted(BaseModel):
    job_id: str
    status_url: str


class BulkRowError(BaseModel):
    row: int | None = Field(description="1-based data row (a CSV header is not counted)")
    sku: str | None
    field: str | None
    message: str


class BulkStatus(BaseModel):
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    total: int = Field(description="Data rows in the upload")
    processed: int
    created: int
    updated: int = Field(description="Existing products whose values changed")
    failed: int
    errors: list[BulkRowError]
    errors_truncated: bool = Field(
        False, description="True when more errors exist than are listed (the first 1000)"
    )
