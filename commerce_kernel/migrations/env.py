"""Alembic environment: runs on the connection `commerce_kernel.migrations` hands over."""

from alembic import context

from commerce_kernel.migrations_runner import configure_context

configure_context(context)
