"""`commerce new-plugin NAME`: scaffold a plugin distribution."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from commerce_kernel.commands import Command
from commerce_kernel.scaffold import scaffold

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="plugin name, a Python identifier (e.g. shop_extra)")
    parser.add_argument("--directory", default=".", help="where to create commerce-NAME/")


def run(args: argparse.Namespace, kernel: Kernel) -> int:
    path = scaffold(args.name, args.directory)
    print(f"created plugin {args.name} in {path}")
    print(
        f"next: pip install -e {path}, then `commerce migrate` where the server runs (the same "
        "database), then restart the server: it loads plugins when it starts"
    )
    return 0


command = Command(
    "new-plugin", "scaffold a new plugin distribution", run, configure, needs_plugins=False
)
