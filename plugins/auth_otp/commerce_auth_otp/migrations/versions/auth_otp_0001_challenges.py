"""otp challenges

Revision ID: auth_otp_0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db

revision = "auth_otp_0001"
down_revision = None
branch_labels = ("auth_otp",)
depends_on = ("kernel_0001",)


def upgrade() -> None:
    op.create_table(
        "otp_challenges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("consumed_at", commerce_kernel.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otp_challenges")),
    )
    op.create_index(op.f("ix_otp_challenges_email"), "otp_challenges", ["email"])


def downgrade() -> None:
    op.drop_table("otp_challenges")
