"""authenticators waiting for their confirming code

Revision ID: auth_password_0002
Revises: auth_password_0001
Create Date: 2026-12-01

A new TOTP secret is stored here until a code from it is confirmed; only then does it replace
the account's row in `totp_authenticators`. Rows of existing authenticators stay as they are
(they were enrolled, and are used, already).
"""

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db

revision = "auth_password_0002"
down_revision = "auth_password_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "totp_pending_enrolments",
        sa.Column("account_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            ondelete="CASCADE",
            name=op.f("fk_totp_pending_enrolments_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_totp_pending_enrolments")),
    )


def downgrade() -> None:
    op.drop_table("totp_pending_enrolments")
