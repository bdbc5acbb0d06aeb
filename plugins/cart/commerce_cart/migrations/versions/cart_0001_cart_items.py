"""cart items

Revision ID: cart_0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db

revision = "cart_0001"
down_revision = None
branch_labels = ("cart",)
depends_on = ("kernel_0001", "catalog_0001")


def upgrade() -> None:
    op.create_table(
        "cart_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("created_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_items")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_cart_items_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_cart_items_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "account_id", "product_id", name=op.f("uq_cart_items_account_id_product_id")
        ),
    )
    op.create_index(op.f("ix_cart_items_product_id"), "cart_items", ["product_id"])


def downgrade() -> None:
    op.drop_table("cart_items")
