"""`commerce openapi`: the OpenAPI document of the enabled plugins (writes only `-o FILE`)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from commerce_kernel.commands import Command

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="write it to this file instead of stdout")


def run(args: argparse.Namespace, kernel: Kernel) -> int:
    text = json.dumps(kernel.openapi(), indent=2)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)
    return 0


command = Command("openapi", "print the OpenAPI document of the enabled plugins", run, configure)
