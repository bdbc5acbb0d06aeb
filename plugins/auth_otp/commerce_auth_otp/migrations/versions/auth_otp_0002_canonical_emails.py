"""challenge emails in canonical form, compared exactly

Revision ID: auth_otp_0002
Revises: auth_otp_0001
Create Date: 2026-12-01

`otp_challenges.email` holds the canonical form (`commerce_kernel.identity.canonical_email`)
and, on MariaDB/MySQL, compares with a binary collation instead of the accent- and
case-insensitive default, which made a look-alike's request replace (and its code count
against) another address's code. A code hash is bound to the email it was made for, so a
challenge whose email changes form can never match again: it is deleted (codes live minutes;
a new one is a request away).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from commerce_kernel.identity import normalize_email

revision = "auth_otp_0002"
down_revision = "auth_otp_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, email FROM otp_challenges")).all()
    stale = [row_id for row_id, email in rows if normalize_email(email) != email]
    for row_id in stale:
        conn.execute(sa.text("DELETE FROM otp_challenges WHERE id = :id"), {"id": row_id})
    if conn.dialect.name == "mysql":
        op.alter_column(
            "otp_challenges",
            "email",
            existing_type=sa.String(254),
            type_=mysql.VARCHAR(254, collation="utf8mb4_bin"),
            existing_nullable=False,
        )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "mysql":
        op.alter_column(
            "otp_challenges",
            "email",
            existing_type=mysql.VARCHAR(254, collation="utf8mb4_bin"),
            type_=sa.String(254),
            existing_nullable=False,
        )
