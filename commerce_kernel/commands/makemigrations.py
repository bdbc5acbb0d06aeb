"""`commerce makemigrations PLUGIN`: autogenerate a migration into one plugin's folder."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from commerce_kernel.commands import Command
from commerce_kernel.migrations_runner import makemigrations

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plugin")
    parser.add_argument("-m", "--message", default="auto")


async def run(args: argparse.Namespace, kernel: Kernel) -> int:
    script = await makemigrations(kernel, args.plugin, args.message)
    if script is None:
        print(f"no changes in the tables of {args.plugin}: no migration created")
    else:
        print(f"created {script.path}")
    return 0


command = Command(
    "makemigrations",
    "autogenerate a migration into one plugin's folder (its tables only)",
    run,
    configure,
    start=False,
)
