"""`commerce plugins`: the enabled plugins with versions, distributions and hooks."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from commerce_kernel.commands import Command

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true")


def rows(kernel: Kernel) -> list[dict[str, Any]]:
    return [
        {
            "name": p.info.name,
            "version": p.info.version,
            "distribution": p.distribution,
            "requires": list(p.info.requires),
            "hooks": kernel.hooks.hooks_of(p.info.name),
        }
        for p in kernel.plugins
    ]


def run(args: argparse.Namespace, kernel: Kernel) -> int:
    found = rows(kernel)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for r in found:
        req = f" requires {', '.join(r['requires'])}" if r["requires"] else ""
        print(f"{r['name']} {r['version']} ({r['distribution'] or 'not installed'}){req}")
        print(f"    hooks: {', '.join(r['hooks']) or '-'}")
    return 0


command = Command("plugins", "list the enabled plugins with versions and hooks", run, configure)
