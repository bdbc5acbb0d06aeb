"""`commerce migrate`: upgrade the database for every enabled plugin."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from commerce_kernel.commands import Command
from commerce_kernel.migrations_runner import upgrade

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


async def run(args: argparse.Namespace, kernel: Kernel) -> int:
    applied = await upgrade(kernel)
    print(f"migrated: {', '.join(applied) or 'nothing to migrate'}")
    return 0


command = Command("migrate", "upgrade the database for every enabled plugin", run, start=False)
