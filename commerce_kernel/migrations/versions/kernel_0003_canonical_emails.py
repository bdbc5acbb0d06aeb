"""canonical emails compared exactly; email verification and token epochs

Revision ID: kernel_0003
Revises: kernel_0002
Create Date: 2026-12-01

Every stored email is rewritten to its canonical form (`identity.canonical_email`) and, on
MariaDB/MySQL, compared with a binary collation instead of the accent- and case-insensitive
default. Two accounts whose emails become equal are never merged silently: the migration
stops and names them, for a person to decide.
"""

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db
from commerce_kernel.identity import canonical_email, normalize_email

revision = "kernel_0003"
down_revision = "kernel_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, email FROM accounts ORDER BY id")).all()
    owners: dict[str, int] = {}
    changes: list[tuple[int, str]] = []
    for account_id, email in rows:
        try:
            canonical = canonical_email(email)
        except ValueError:
            canonical = normalize_email(email)
        if canonical in owners:
            raise RuntimeError(
                f"accounts {owners[canonical]} and {account_id} have the same email once "
                f"canonical ({canonical!r}); merge or rename one of them, then migrate again"
            )
        owners[canonical] = account_id
        if canonical != email:
            changes.append((account_id, canonical))
    if conn.dialect.name == "mysql":
        op.alter_column(
            "accounts",
            "email",
            existing_type=sa.String(254),
            type_=sa.dialects.mysql.VARCHAR(254, collation="utf8mb4_bin"),
            existing_nullable=False,
        )
    for account_id, canonical in changes:
        conn.execute(
            sa.text("UPDATE accounts SET email = :email WHERE id = :id"),
            {"email": canonical, "id": account_id},
        )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("email_verified_at", commerce_kernel.db.UTCDateTime(), nullable=True)
        )
        batch.add_column(sa.Column("token_epoch", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("token_epoch")
        batch.drop_column("email_verified_at")
