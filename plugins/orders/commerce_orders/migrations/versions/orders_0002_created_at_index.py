"""orders.created_at index: the admin list's date filters

Revision ID: orders_0002
Revises: orders_0001
Create Date: 2026-12-03

`GET /api/orders/?created_after=...&created_before=...` counts and pages the orders of a
time range; without an index both scan the whole table.
"""

from alembic import op

revision = "orders_0002"
down_revision = "orders_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_created_at", "orders", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_created_at", table_name="orders")
