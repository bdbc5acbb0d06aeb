"""which event types some enabled endpoint subscribes to (one row, read by each shop event)

Revision ID: webhooks_0002
Revises: webhooks_0001
Create Date: 2026-12-03
"""

import json

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db

revision = "webhooks_0002"
down_revision = "webhooks_0001"
branch_labels = None
depends_on = None

UTC = commerce_kernel.db.UTCDateTime


def upgrade() -> None:
    table = op.create_table(
        "webhook_subscribed",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscribed")),
    )
    endpoints = sa.table("webhook_endpoints", sa.column("event_types"), sa.column("enabled"))
    types: set[str] = set()
    for (value,) in op.get_bind().execute(
        sa.select(endpoints.c.event_types).where(endpoints.c.enabled.is_(True))
    ):
        types.update(json.loads(value) if isinstance(value, str) else value)
    op.bulk_insert(
        table,
        [
            {
                "id": 1,
                "event_types": sorted(types),
                "updated_at": commerce_kernel.db.utcnow(),
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("webhook_subscribed")
