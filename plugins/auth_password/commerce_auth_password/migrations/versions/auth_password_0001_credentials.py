"""password credentials and admin TOTP authenticators

Revision ID: auth_password_0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db

revision = "auth_password_0001"
down_revision = None
branch_labels = ("auth_password",)
depends_on = ("kernel_0001",)


def upgrade() -> None:
    op.create_table(
        "password_credentials",
        sa.Column("account_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(255), nullable=False),
        sa.Column("updated_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            ondelete="CASCADE",
            name=op.f("fk_password_credentials_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_password_credentials")),
    )
    op.create_table(
        "totp_authenticators",
        sa.Column("account_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            ondelete="CASCADE",
            name=op.f("fk_totp_authenticators_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_totp_authenticators")),
    )


def downgrade() -> None:
    op.drop_table("totp_authenticators")
    op.drop_table("password_credentials")
