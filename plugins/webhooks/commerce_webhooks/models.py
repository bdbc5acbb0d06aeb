"""The webhooks plugin's tables (migration branch `webhooks`): endpoints, one delivery per
event per endpoint, and which products are known to be low on stock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from commerce_kernel import Base, UTCDateTime, utcnow

URL_MAX = 2000


class Endpoint(Base):
    """A receiver: its URL, the event types it wants, its signing secrets."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(URL_MAX))
    description: Mapped[str] = mapped_column(String(255), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # `whsec_` + base64 of 24 random bytes; kept to sign with (never shown after creation).
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The first failure since the last success; NULL while healthy.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One event for one endpoint: the exact body sent on every try, and how it went."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "message_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # The `webhook-id` header and the body's `id`: the same on every try and replay.
    message_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # succeeded, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A try in progress holds the row until then (a killed worker's try is taken over after).
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    last_response: Mapped[str] = mapped_column(Text, default="")
    last_duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StockLow(Base):
    """A product whose stock is at or under the threshold and has been announced so."""

    __tablename__ = "webhook_stock_low"

    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # The event that announced it (a repeated call of the same event announces it again).
    event_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscribed(Base):
    """One row (id 1): the event types some enabled endpoint subscribes to, rewritten in the
    transaction of every change to the endpoints. A shop event's transaction reads it with a
    shared lock to decide whether to keep the event for webhooks at all (`subscribed`)."""

    __tablename__ = "webhook_subscribed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_types: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
