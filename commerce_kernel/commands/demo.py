"""`commerce demo`: migrate, create an admin and demo data (the embedded default, ready)."""

from __future__ import annotations

import argparse
import secrets
from typing import TYPE_CHECKING

from commerce_kernel import hookspecs
from commerce_kernel.commands import Command
from commerce_kernel.commands.createsuperuser import create_superuser
from commerce_kernel.migrations_runner import upgrade

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin-email", default="admin@example.com")
    parser.add_argument("--admin-password", help="default: a random one, printed")


async def run(args: argparse.Namespace, kernel: Kernel) -> int:
    password = args.admin_password or secrets.token_urlsafe(12)
    await upgrade(kernel)
    code = await create_superuser(kernel, args.admin_email, password, "Admin")
    async with kernel.db.transaction() as session:
        await kernel.hooks.call(hookspecs.demo_data, kernel=kernel, session=session)
    if code == 0:
        print(f"admin login: {args.admin_email} / {password}  (POST /api/admin/auth/login/)")
    return code


command = Command(
    "demo", "migrate, create an admin and demo data (embedded default)", run, configure
)
