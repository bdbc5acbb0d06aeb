"""`commerce migrate`: upgrade the database for every enabled plugin, saying which database
and each revision as it is applied."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from commerce_kernel.commands import Command, database_shown
from commerce_kernel.migrations_runner import upgrade

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel

# Alembic logs "Running upgrade A -> B, message" here as each revision starts.
MIGRATION_LOGGER = "alembic.runtime.migration"


class _RevisionProgress(logging.Handler):
    """Prints each revision as Alembic starts applying it, and keeps their ids."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(logging.INFO)
        self.out = out
        self.applied: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        step = record.args[0] if isinstance(record.args, tuple) and record.args else None
        script = getattr(step, "revision", None)
        if not record.msg.startswith("Running") or script is None:
            return  # "Context impl SQLiteImpl.", "Will assume transactional DDL."
        revision = str(getattr(script, "revision", script))
        self.applied.append(revision)
        doc = getattr(script, "doc", "") or ""
        try:
            print(f"  applying {revision}{f': {doc}' if doc else ''}", file=self.out, flush=True)
        except OSError:
            pass  # whoever watched the progress went away; the migration goes on


@contextmanager
def revision_progress(out: TextIO) -> Iterator[list[str]]:
    """While open, each revision Alembic applies is printed to `out` and appended to the list
    it gives."""
    logger = logging.getLogger(MIGRATION_LOGGER)
    handler = _RevisionProgress(out)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # not also as a log line, whatever the root logger does
    try:
        yield handler.applied
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


async def migrate(kernel: Kernel, *, progress: TextIO) -> tuple[list[str], list[str]]:
    """Upgrade every enabled plugin; (plugins upgraded, revisions applied). The database and
    each revision go to `progress` as the work happens."""
    print(f"migrating {database_shown(kernel.settings.database_url)}", file=progress, flush=True)
    with revision_progress(progress) as applied:
        plugins = await upgrade(kernel)
    return plugins, applied


def summary(plugins: list[str], applied: list[str]) -> str:
    """`3 revisions applied (kernel, orders)`, or `already up to date (...)`."""
    names = ", ".join(plugins) or "no enabled plugin has migrations"
    if not applied:
        return f"already up to date ({names})"
    n = len(applied)
    return f"{n} revision{'s' if n != 1 else ''} applied ({names})"


async def run(args: argparse.Namespace, kernel: Kernel) -> int:
    plugins, applied = await migrate(kernel, progress=sys.stderr)
    print(f"migrated {database_shown(kernel.settings.database_url)}: {summary(plugins, applied)}")
    return 0


command = Command(
    "migrate",
    "upgrade the database for every enabled plugin (prints the database and each revision)",
    run,
    start=False,
)
