"""`commerce createsuperuser`: create (or promote) an admin account, with a password."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from commerce_kernel import hookspecs
from commerce_kernel.commands import Command, run_command
from commerce_kernel.db import utcnow
from commerce_kernel.errors import Problem
from commerce_kernel.identity import account_by_email, create_account

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--email")
    parser.add_argument("--password")
    parser.add_argument("--name")


def ask(args: argparse.Namespace) -> tuple[str | None, str | None, str | None]:
    """Email and password from the flags, or asked for on a terminal; (email, password,
    error)."""
    email = args.email or (input("Email: ") if sys.stdin.isatty() else None)
    if not email:
        return None, None, "--email is required"
    password = args.password
    if password is None and sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            return None, None, "the passwords differ"
    return email, password, None


def run(args: argparse.Namespace, kernel: Kernel) -> int:
    email, password, error = ask(args)
    if error or email is None:
        print(f"error: {error}", file=sys.stderr)
        return 2

    async def create(args: argparse.Namespace, kernel: Kernel) -> int:
        return await create_superuser(kernel, email, password, args.name or "")

    return run_command(Command("createsuperuser", "", create), args, kernel)


async def create_superuser(kernel: Kernel, email: str, password: str | None, name: str = "") -> int:
    """Create or promote the admin `email`, storing `password` through the `set_password`
    hook; prints what it did and returns an exit code."""
    async with kernel.db.transaction() as session:
        account = await account_by_email(session, email)
        if account is None:
            account = await create_account(session, email, name, is_admin=True)
            verb = "created"
        else:
            account.is_admin = True
            verb = "promoted"
        # The operator vouches for the address: a later mailed code or Google sign-in of this
        # admin must not treat the password set here as an unproven one and remove it.
        if account.email_verified_at is None:
            account.email_verified_at = utcnow()
        if password:
            try:
                handled = await kernel.hooks.call(
                    hookspecs.set_password,
                    kernel=kernel,
                    session=session,
                    account_id=account.id,
                    password=password,
                )
            except Problem as exc:
                print(f"error: {exc.detail}", file=sys.stderr)
                await session.rollback()
                return 2
            if not handled:
                print(
                    "error: no enabled plugin stores passwords (install auth_password)",
                    file=sys.stderr,
                )
                await session.rollback()
                return 2
    print(f"{verb} admin {account.email} (id {account.id})")
    return 0


command = Command("createsuperuser", "create (or promote) an admin account", run, configure)
