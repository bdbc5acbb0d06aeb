"""products.sold_version: orders the announcements of each product's sold count

Revision ID: catalog_0003
Revises: catalog_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "catalog_0003"
down_revision = "catalog_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "products", sa.Column("sold_version", sa.BigInteger(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    # Plain ALTER TABLE on both (SQLite >= 3.35): a batch copy would lose the FTS triggers.
    op.execute("ALTER TABLE products DROP COLUMN sold_version")
