"""`commerce createsuperuser`: create (or promote) an admin account, with a password."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Annotated

from pydantic import EmailStr, Field, TypeAdapter, ValidationError

from commerce_kernel import hookspecs
from commerce_kernel.commands import Command, run_command
from commerce_kernel.db import utcnow
from commerce_kernel.errors import Problem
from commerce_kernel.identity import account_by_email, create_account

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


HELP = """\
Create the admin account EMAIL, or make an existing account an admin, and set its password
(stored by the auth_password plugin). The password comes from --password-stdin (the first
line of standard input: `printf '%s\\n' "$PW" | commerce createsuperuser --email E
--password-stdin`), from --password (visible to other users in the process list and kept in
the shell history), or is asked for twice on a terminal. Without a terminal and without one
of these, the command refuses (exit 2) rather than make an admin without a password; pass
--no-password to mean that (an admin who signs in another way: a mailed code, Google, or a
password set later)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = HELP
    parser.add_argument("--email", help="the admin's email address (asked for on a terminal)")
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--password", help="the password (prefer --password-stdin)")
    given.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    given.add_argument(
        "--no-password",
        action="store_true",
        help="set no password (an existing account keeps the one it has)",
    )
    parser.add_argument("--name", help="the account's display name")


_EMAIL: TypeAdapter[str] = TypeAdapter(Annotated[EmailStr, Field(max_length=254)])


def valid_email(text: str) -> str | None:
    """The address an admin is created with, or None when `text` is not one (the same rule
    as sign-up: a mailbox at a domain)."""
    try:
        address = _EMAIL.validate_python(text.strip())
    except ValidationError:
        return None
    return str(address)


class Refused(Exception):
    """What the operator gave cannot make an admin: the message says why (exit 2)."""


def ask(args: argparse.Namespace) -> tuple[str, str | None]:
    """The email and password from the flags, standard input or a terminal prompt; the
    password is None only with --no-password. Raises `Refused`."""
    terminal = sys.stdin.isatty()
    email = args.email
    if email is None and terminal and not args.password_stdin:
        email = input("Email: ")
    if not email:
        raise Refused("--email is required")
    address = valid_email(email)
    if address is None:
        raise Refused(f"{email!r} is not an email address")
    if args.no_password:
        return address, None
    if args.password is not None:
        password = args.password
    elif args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif terminal:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise Refused("the passwords differ")
    else:
        raise Refused(
            "no password given, and standard input is not a terminal to ask on: pass "
            "--password-stdin (and the password on standard input), --password P, or "
            "--no-password for an admin without one"
        )
    if not password:
        raise Refused("the password is empty (--no-password creates an admin without one)")
    return address, password


def run(args: argparse.Namespace, kernel: Kernel) -> int:
    try:
        email, password = ask(args)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except EOFError:  # Ctrl-D at a prompt
        print("error: no email given", file=sys.stderr)
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


command = Command(
    "createsuperuser",
    "create (or promote) an admin account; never without a password unless --no-password",
    run,
    configure,
)
