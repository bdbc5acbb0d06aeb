"""`commerce demo`: migrate, create an admin and demo data (the embedded default, ready)."""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import TYPE_CHECKING

from commerce_kernel import hookspecs
from commerce_kernel.commands import Command, database_shown
from commerce_kernel.commands.createsuperuser import create_superuser
from commerce_kernel.commands.migrate import migrate, summary

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin-email", default="admin@example.com")
    parser.add_argument("--admin-password", help="default: a random one, printed")


def step(text: str) -> None:
    """What the command is doing now (stderr; the results go to stdout)."""
    print(text, file=sys.stderr, flush=True)


async def run(args: argparse.Namespace, kernel: Kernel) -> int:
    password = args.admin_password or secrets.token_urlsafe(12)
    plugins, applied = await migrate(kernel, progress=sys.stderr)
    print(f"migrated {database_shown(kernel.settings.database_url)}: {summary(plugins, applied)}")
    step(f"creating the admin {args.admin_email}")
    code = await create_superuser(kernel, args.admin_email, password, "Admin")
    with_data = kernel.hooks.implementers(hookspecs.demo_data)
    step(f"adding demo data: {', '.join(with_data) or 'no enabled plugin has any'}")
    async with kernel.db.transaction() as session:
        await kernel.hooks.call(hookspecs.demo_data, kernel=kernel, session=session)
    if code == 0:
        print(f"admin login: {args.admin_email} / {password}  (POST /api/admin/auth/login/)")
    return code


command = Command(
    "demo",
    "migrate, create an admin and demo data (embedded default); prints the database and login",
    run,
    configure,
)
