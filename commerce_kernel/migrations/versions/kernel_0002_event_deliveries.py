"""durable event deliveries

Revision ID: kernel_0002
Revises: kernel_0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db

revision = "kernel_0002"
down_revision = "kernel_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kernel_event_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("hook", sa.String(100), nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", commerce_kernel.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kernel_event_deliveries")),
    )
    op.create_index(
        "ix_kernel_event_deliveries_pending",
        "kernel_event_deliveries",
        ["delivered_at", "created_at"],
    )


def downgrade() -> None:
    op.drop_table("kernel_event_deliveries")
