"""guestbook entries

Revision ID: guestbook_0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db

revision = "guestbook_0001"
down_revision = None
branch_labels = ("guestbook",)
depends_on = ("kernel_0001",)


def upgrade() -> None:
    op.create_table(
        "guestbook_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        sa.Column("words", sa.Integer(), nullable=True),
        sa.Column("created_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guestbook_entries")),
    )
    op.create_table(
        "guestbook_ticks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slot", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guestbook_ticks")),
    )


def downgrade() -> None:
    op.drop_table("guestbook_ticks")
    op.drop_table("guestbook_entries")
