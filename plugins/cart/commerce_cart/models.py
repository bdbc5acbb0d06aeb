"""The cart's table: one row per (customer, product), holding only a quantity."""

from __future__ import annotations

from datetime import datetime

import commerce_catalog.api  # noqa: F401  (registers the products table the lines point at)
from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commerce_kernel.db import Base, UTCDateTime, utcnow


class CartItem(Base):
    """A line of a customer's cart. Prices are not stored: the catalog's current price counts."""

    __tablename__ = "cart_items"
    __table_args__ = (UniqueConstraint("account_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
