"""The promotions plugin's tables: promotions, codes applied to carts, per-customer use
counters and redemptions (migration branch `promotions`)."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import commerce_orders.api  # noqa: F401  (registers the orders table redemptions point at)
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commerce_kernel import Base, UTCDateTime, utcnow

CODE_MAX = 64


class Kind(enum.StrEnum):
    PERCENTAGE = "percentage"  # `value` percent off the subtotal
    FIXED = "fixed"  # `value` off the subtotal
    PRODUCT_PERCENTAGE = "product_percentage"  # `value` percent off the chosen products' lines
    PRODUCT_FIXED = "product_fixed"  # `value` off each unit of the chosen products
    BUY_X_GET_Y = "buy_x_get_y"  # of every buy+get units of a chosen product, get are free


PRODUCT_KINDS = frozenset({Kind.PRODUCT_PERCENTAGE, Kind.PRODUCT_FIXED, Kind.BUY_X_GET_Y})


class Promotion(Base):
    """One promotion: a code customers apply, or none (automatic: it applies by itself)."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Upper-cased; unique. NULL: automatic (several NULLs are allowed by the unique index).
    code: Mapped[str | None] = mapped_column(String(CODE_MAX), unique=True)
    label: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    # Percent (0 < value <= 100) or an amount in the deployment's currency; NULL for buy_x_get_y.
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    product_ids: Mapped[list[int]] = mapped_column(JSON)
    buy_quantity: Mapped[int | None] = mapped_column(Integer)
    get_quantity: Mapped[int | None] = mapped_column(Integer)
    minimum_subtotal: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)
    # Uses taken by committed orders (minus cancelled ones); raised only by one conditional
    # UPDATE (`used < usage_limit`) inside the order's transaction.
    used: Mapped[int] = mapped_column(Integer, default=0)
    combinable: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppliedCode(Base):
    """A code a customer applied to their cart: it is tried on their next order."""

    __tablename__ = "promotion_applied_codes"
    __table_args__ = (UniqueConstraint("account_id", "promotion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    promotion_id: Mapped[int] = mapped_column(
        ForeignKey("promotions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerUse(Base):
    """How many uses of a promotion one customer's committed orders hold; raised only by a
    conditional UPDATE (`used < per_customer_limit`) inside the order's transaction."""

    __tablename__ = "promotion_customer_uses"
    __table_args__ = (UniqueConstraint("promotion_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotions.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    used: Mapped[int] = mapped_column(Integer, default=0)


class Redemption(Base):
    """A promotion an order carries, written in the order's transaction; `returned_at` is set
    (once) when the order is cancelled and its uses are given back."""

    __tablename__ = "promotion_redemptions"
    __table_args__ = (UniqueConstraint("order_id", "promotion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotions.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # The adjustment's code on the order (the promotion's code, or `promotion:<id>`).
    code: Mapped[str] = mapped_column(String(CODE_MAX))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
