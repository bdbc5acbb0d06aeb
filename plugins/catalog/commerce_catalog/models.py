"""The catalog's tables: products, and bulk-upload jobs stored chunk by chunk."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    event,
    inspect,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from commerce_kernel.db import Base, UTCDateTime, utcnow, utcnow_seconds

# On MariaDB the default collation is case- and accent-insensitive; SKUs (already upper-cased
# on input) and the case-folded search text must compare byte for byte, as on SQLite.
BinaryString64 = String(64).with_variant(mysql.VARCHAR(64, collation="utf8mb4_bin"), "mysql")
BinaryText = Text().with_variant(mysql.MEDIUMTEXT(collation="utf8mb4_bin"), "mysql")
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql")


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_active_name", "is_active", "name"),
        Index("ix_products_active_price", "is_active", "price"),
        Index("ix_products_active_created_at", "is_active", "created_at"),
        Index("ix_products_active_sold_count", "is_active", "sold_count"),
        Index("ix_products_active_stock", "is_active", "stock"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(BinaryString64, unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    stock: Mapped[int] = mapped_column(Integer, default=0)
    sold_count: Mapped[int] = mapped_column(Integer, default=0)
    # One more on every change of sold_count: orders the announcements of its figure.
    sold_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow_seconds)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow_seconds, onupdate=utcnow_seconds
    )
    # Maintained on every write (see search.py): the case-folded name, SKU and description
    # (substring recheck; SQLite's FTS5 trigram index reads it) and, on MariaDB, the word
    # suffixes its FULLTEXT index holds. Deferred: only search needs them.
    search_text: Mapped[str] = mapped_column(BinaryText, default="", deferred=True)
    search_tokens: Mapped[str] = mapped_column(LongText, default="", deferred=True)


@event.listens_for(Product, "before_insert")
def _search_columns_on_insert(
    mapper: Mapper[Product], connection: Connection, target: Product
) -> None:
    # Any ORM write (the service, tests, other plugins) keeps search in step with the fields.
    _set_search_columns(connection, target)


@event.listens_for(Product, "before_update")
def _search_columns_on_update(
    mapper: Mapper[Product], connection: Connection, target: Product
) -> None:
    state = inspect(target)
    if any(state.attrs[f].history.has_changes() for f in ("sku", "name", "description")):
        _set_search_columns(connection, target)


def _set_search_columns(connection: Connection, target: Product) -> None:
    from commerce_catalog.search import search_columns

    values = search_columns(
        target.sku, target.name, target.description or "", connection.dialect.name == "mysql"
    )
    target.search_text = values["search_text"]
    target.search_tokens = values["search_tokens"]


class BulkJob(Base):
    """One bulk upload. Counters live on its chunks (written with the rows they count)."""

    __tablename__ = "catalog_bulk_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    source: Mapped[str] = mapped_column(String(255), default="")
    file_format: Mapped[str] = mapped_column(String(8), default="csv")
    total: Mapped[int] = mapped_column(Integer, default=0)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BulkJobChunk(Base):
    """A slice of an upload's rows, processed by one task in one transaction."""

    __tablename__ = "catalog_bulk_job_chunks"
    __table_args__ = (Index("ix_catalog_bulk_job_chunks_job_status", "job_id", "status"),)

    job_id: Mapped[str] = mapped_column(
        ForeignKey("catalog_bulk_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    size: Mapped[int] = mapped_column(Integer, default=0)
    # JSON list of [row_number, {column: value}, superseded_by_row | null]; emptied when done.
    rows: Mapped[str | None] = mapped_column(LongText, nullable=True, deferred=True)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # JSON list of {"row", "sku", "field", "message"}.
    errors: Mapped[str | None] = mapped_column(LongText, nullable=True, deferred=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
