"""promotions, codes applied to carts, per-customer uses, redemptions

Revision ID: promotions_0001
Revises:
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db

revision = "promotions_0001"
down_revision = None
branch_labels = ("promotions",)
depends_on = ("kernel_0001", "orders_0001")

UTC = commerce_kernel.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.Numeric(14, 2), nullable=True),
        sa.Column("product_ids", sa.JSON(), nullable=False),
        sa.Column("buy_quantity", sa.Integer(), nullable=True),
        sa.Column("get_quantity", sa.Integer(), nullable=True),
        sa.Column("minimum_subtotal", sa.Numeric(14, 2), nullable=True),
        sa.Column("starts_at", UTC(), nullable=True),
        sa.Column("ends_at", UTC(), nullable=True),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("per_customer_limit", sa.Integer(), nullable=True),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("combinable", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
        sa.UniqueConstraint("code", name=op.f("uq_promotions_code")),
    )
    op.create_table(
        "promotion_applied_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("promotion_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_applied_codes")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_promotion_applied_codes_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_promotion_applied_codes_promotion_id_promotions"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "account_id",
            "promotion_id",
            name=op.f("uq_promotion_applied_codes_account_id_promotion_id"),
        ),
    )
    op.create_index(
        op.f("ix_promotion_applied_codes_promotion_id"),
        "promotion_applied_codes",
        ["promotion_id"],
    )
    op.create_table(
        "promotion_customer_uses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("promotion_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_customer_uses")),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_promotion_customer_uses_promotion_id_promotions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_promotion_customer_uses_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "promotion_id",
            "account_id",
            name=op.f("uq_promotion_customer_uses_promotion_id_account_id"),
        ),
    )
    op.create_index(
        op.f("ix_promotion_customer_uses_account_id"), "promotion_customer_uses", ["account_id"]
    )
    op.create_table(
        "promotion_redemptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("promotion_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("returned_at", UTC(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_redemptions")),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_promotion_redemptions_promotion_id_promotions"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_promotion_redemptions_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_promotion_redemptions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "order_id",
            "promotion_id",
            name=op.f("uq_promotion_redemptions_order_id_promotion_id"),
        ),
    )
    op.create_index(
        op.f("ix_promotion_redemptions_promotion_id"), "promotion_redemptions", ["promotion_id"]
    )
    op.create_index(
        op.f("ix_promotion_redemptions_account_id"), "promotion_redemptions", ["account_id"]
    )


def downgrade() -> None:
    op.drop_table("promotion_redemptions")
    op.drop_table("promotion_customer_uses")
    op.drop_table("promotion_applied_codes")
    op.drop_table("promotions")
