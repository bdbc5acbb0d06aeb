"""The catalog's settings section (environment / .env)."""

from __future__ import annotations

from pydantic import Field

from commerce_kernel.settings import SectionSettings


class CatalogSettings(SectionSettings):
    """`kernel.section(CatalogSettings)`."""

    env_prefix = ""  # the fields carry their own prefix (variable names as documented)

    bulk_upload_max_bytes: int = Field(50 * 1024 * 1024, ge=1)
    """BULK_UPLOAD_MAX_BYTES: the largest bulk upload request body (413 above it)."""
    catalog_bulk_max_rows: int = Field(1_000_000, ge=1)
    """CATALOG_BULK_MAX_ROWS: the most data rows one bulk upload may hold (413 above it,
    nothing stored)."""
    catalog_bulk_chunk_rows: int = Field(1000, ge=1, le=100_000)
    """CATALOG_BULK_CHUNK_ROWS: rows per chunk task (one transaction each)."""
    catalog_bulk_chunk_timeout: float = Field(60.0, gt=0)
    """CATALOG_BULK_CHUNK_TIMEOUT: seconds a chunk task may run before it is retried."""
