"""`commerce guestbook-stats`: the guestbook's CLI command."""

from __future__ import annotations

import argparse
import json

from sqlalchemy import func, select

from commerce_guestbook.models import Entry
from commerce_kernel import Command, Kernel


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


async def stats(args: argparse.Namespace, kernel: Kernel) -> int:
    async with kernel.db.session() as session:
        count, words = (await session.execute(select(func.count(), func.sum(Entry.words)))).one()
    # The sum of no rows is NULL, and MariaDB sums into a DECIMAL.
    numbers = {"entries": count, "words": int(words or 0)}
    if args.json:
        print(json.dumps(numbers))
    else:
        print(f"{numbers['entries']} entries, {numbers['words']} words counted")
    return 0


# Only the database is needed: no queue, pub/sub or start-up hooks.
stats_command = Command(
    "guestbook-stats", "count the guestbook's entries and words", stats, configure, start=False
)
