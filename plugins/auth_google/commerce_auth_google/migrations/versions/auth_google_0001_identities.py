"""google identities

Revision ID: auth_google_0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db

revision = "auth_google_0001"
down_revision = None
branch_labels = ("auth_google",)
depends_on = ("kernel_0001",)


def upgrade() -> None:
    op.create_table(
        "google_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sub", sa.String(255), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            ondelete="CASCADE",
            name=op.f("fk_google_identities_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_google_identities")),
        sa.UniqueConstraint("sub", name=op.f("uq_google_identities_sub")),
    )
    op.create_index(op.f("ix_google_identities_account_id"), "google_identities", ["account_id"])


def downgrade() -> None:
    op.drop_table("google_identities")
